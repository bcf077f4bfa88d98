/*
 * chatbench_samples.c — latency samples in microseconds: kept in one
 * preallocated array (up to SAMPLE_CAP; later ones are counted as
 * dropped), sorted once at the end, then read as nearest-rank
 * percentiles. Adding a sample is inline (chatbench.h): it happens for
 * every answer.
 */
#include <stdlib.h>
#include "chatbench.h"

void
cb_samples_init(struct samples *s)
{
	s->cap = SAMPLE_CAP;
	/* Pages are only touched as samples arrive. */
	while ((s->v = malloc(s->cap * sizeof *s->v)) == NULL && s->cap > 1024)
		s->cap /= 2;
	if (s->v == NULL) {
		fprintf(stderr, "chatbench: out of memory\n");
		exit(1);
	}
	s->n = 0;
	s->dropped = 0;
}

/* LSD radix sort, two 16-bit passes. */
void
cb_samples_sort(struct samples *s)
{
	uint32_t *tmp, *src = s->v, *dst;
	size_t *cnt, i, pos, sum;
	unsigned pass, shift;

	if (s->n < 2)
		return;
	tmp = malloc(s->n * sizeof *tmp);
	cnt = malloc(65536 * sizeof *cnt);
	if (tmp == NULL || cnt == NULL) {
		fprintf(stderr, "chatbench: out of memory sorting samples\n");
		exit(1);
	}
	dst = tmp;
	for (pass = 0; pass < 2; pass++) {
		shift = pass * 16;
		memset(cnt, 0, 65536 * sizeof *cnt);
		for (i = 0; i < s->n; i++)
			cnt[(src[i] >> shift) & 0xFFFF]++;
		for (sum = 0, i = 0; i < 65536; i++) {
			pos = cnt[i];
			cnt[i] = sum;
			sum += pos;
		}
		for (i = 0; i < s->n; i++)
			dst[cnt[(src[i] >> shift) & 0xFFFF]++] = src[i];
		dst = src;
		src = (pass == 0) ? tmp : s->v;
	}
	/* After two passes the sorted data is back in s->v. */
	free(tmp);
	free(cnt);
}

/* Nearest-rank percentile of sorted samples. */
uint32_t
cb_pct(const struct samples *s, double p)
{
	double want = p * (double)s->n;
	size_t r = (size_t)want;

	if (s->n == 0)
		return 0;
	if ((double)r < want)
		r++;
	if (r < 1)
		r = 1;
	if (r > s->n)
		r = s->n;
	return s->v[r - 1];
}

double
cb_mean_us(const struct samples *s)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		sum += s->v[i];
	return s->n ? sum / (double)s->n : 0;
}
