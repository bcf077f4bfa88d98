/*
 * options.c — the pure parts of ./chat's command line: when to use
 * colour, and reading a password file. main.c does the I/O around them;
 * tests/check_client.c tests them alone.
 *
 * Colour (https://no-color.org): --color=never and --color=always are
 * what they say; auto (the default) colours only when standard output is
 * a terminal and NO_COLOR is absent or empty. An explicit --color=always
 * wins over NO_COLOR, as no-color.org asks of per-invocation options.
 *
 * Password files are refused, not merely warned about, when group or
 * others have any access to them: the password of a script's account is
 * as much a secret as an ssh key, and ssh refuses those too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "client.h"

int
cli_color_parse(const char *s)
{
	if (strcmp(s, "auto") == 0)
		return CLI_COLOR_AUTO;
	if (strcmp(s, "always") == 0)
		return CLI_COLOR_ALWAYS;
	if (strcmp(s, "never") == 0)
		return CLI_COLOR_NEVER;
	return -1;
}

int
cli_color_wanted(int mode, const char *no_color, int stdout_tty)
{
	if (mode == CLI_COLOR_ALWAYS)
		return 1;
	if (mode == CLI_COLOR_NEVER)
		return 0;
	return stdout_tty && (no_color == NULL || no_color[0] == '\0');
}

int
cli_read_password_file(const char *path, char *pw, size_t pwsz, char *err,
		       size_t errlen)
{
	char buf[CHAT_MAX_PASSWORD + 3];	/* password, CR, LF, one more */
	char why[256], *nl;
	struct stat st;
	size_t len = 0;
	int fd;

	pw[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s: group or others may access it (mode "
		    "%04o); refusing to use it (chmod 600 %s)", path,
		    (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	/* Only the first line matters: read until a newline or enough. */
	while (len < sizeof buf && memchr(buf, '\n', len) == NULL) {
		ssize_t n = read(fd, buf + len, sizeof buf - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if ((nl = memchr(buf, '\n', len)) != NULL)
		len = (size_t)(nl - buf);
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len > CHAT_MAX_PASSWORD || len + 1 > pwsz) {
		snprintf(err, errlen, "%s: the password on its first line is "
		    "longer than %d bytes", path, CHAT_MAX_PASSWORD);
		explicit_bzero(buf, sizeof buf);
		return -1;
	}
	memcpy(pw, buf, len);
	pw[len] = '\0';
	explicit_bzero(buf, sizeof buf);
	if (memchr(pw, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: the password contains a NUL byte",
		    path);
		explicit_bzero(pw, pwsz);
		return -1;
	}
	if (cli_check_password(pw, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: %s on its first line", path, why);
		explicit_bzero(pw, pwsz);
		return -1;
	}
	return 0;
}
