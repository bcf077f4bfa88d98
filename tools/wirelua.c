/*
 * wirelua — wire/chat.lua, the Wireshark dissector, from wire/wire.def.
 *
 *   wirelua TEMPLATE CONF    print the dissector to stdout
 *
 * TEMPLATE (tools/wirelua.lua) is the dissector's Lua code, copied through
 * as is, except its line "--@TABLES@", which becomes the protocol tables:
 * header constants, every opcode and list item with its fields and
 * limits, and the error names — walked from the codec's own descriptor
 * tables (wire_ops, wire_items, wire_errors: the ones tools/wiredoc
 * documents and src/wire.c decodes with), so the dissector cannot describe
 * a protocol the code does not speak. The default port ranges are the
 * ports of CONF (replicas.conf), read by the real config parser. The
 * output is deterministic; `make` writes it to wire/chat.lua and
 * `make lua-check` compares it with the committed file.
 *
 * What the descriptors do not say — that ERROR.code is an error code, that
 * a RECORD's payload is laid out by the opcode in its type field — is the
 * small annotation table below; an annotation that matches no field stops
 * the build, so a rename in wire.def cannot silently drop it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "config.h"
#include "wire.h"
#include "wiredesc.h"

#define TABLES_LINE "--@TABLES@\n"


/* Extra meaning of a field, as a Lua key = "value" pair. */
static const struct annotation {
	const char *layout, *field, *key, *value;
} annotations[] = {
	{ "ERROR", "code", "names", "error" },
	{ "ERROR", "about_op", "names", "opcode" },
	{ "PUSH_SESSION_END", "code", "names", "error" },
	{ "ADMIN_REPLY", "code", "names", "error" },
	{ "RECORD", "type", "names", "opcode" },
	{ "RECORD", "reply_op", "names", "opcode" },
	{ "RECORD", "payload", "layout_of", "type" },
	{ "RECORD", "reply", "layout_of", "reply_op" },
};
#define NANNOTATIONS (sizeof annotations / sizeof annotations[0])
static unsigned annotation_used[NANNOTATIONS];

/* A Lua string literal. */
static void
put_lua_string(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			fprintf(o, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(o, "\\%03u", (unsigned)(unsigned char)*s);
		else
			fputc(*s, o);
	fputc('"', o);
}

/* A limit as a Lua number, exact only up to 2^53: the dissector compares
 * values as Lua numbers. No limit in wire.def comes near that. */
static void
put_limit(FILE *o, const char *key, uint64_t v)
{
	if (v > (1ull << 53)) {
		fprintf(stderr, "wirelua: a %s of %llu is beyond what a Lua "
		    "number holds exactly; teach tools/wirelua.lua UInt64 "
		    "limits\n", key, (unsigned long long)v);
		exit(1);
	}
	fprintf(o, ", %s = %llu", key, (unsigned long long)v);
}

/* One field: { name, type, doc, min (if not 0), max (if not the type's
 * whole range), item (LIST), annotations }. */
static void
put_field(FILE *o, const char *layout, const struct wire_field *f)
{
	size_t i;

	fprintf(o, "\t\t{ name = \"%s\", type = \"%s\"", f->name,
	    type_names[f->type]);
	if (f->min > 0)
		put_limit(o, "min", f->min);
	if (f->type > WT_U64 || f->max != type_max(f->type))
		put_limit(o, "max", f->max);
	if (f->type == WT_LIST)
		fprintf(o, ", item = \"%s\"", f->item->name);
	for (i = 0; i < NANNOTATIONS; i++)
		if (strcmp(annotations[i].layout, layout) == 0 &&
		    strcmp(annotations[i].field, f->name) == 0) {
			fprintf(o, ", %s = \"%s\"", annotations[i].key,
			    annotations[i].value);
			annotation_used[i]++;
		}
	fputs(",\n\t\t  doc = ", o);
	put_lua_string(o, f->doc);
	fputs(" },\n", o);
}

static void
put_fields(FILE *o, const struct wire_struct *s)
{
	unsigned i;

	fputs("\tfields = {\n", o);
	for (i = 0; i < s->nfields; i++)
		put_field(o, s->name, &s->fields[i]);
	fputs("\t} },\n", o);
}

/* Comma-separated ports of every replica in conf (client or internal). */
static void
put_ports(FILE *o, const char *key, const struct config *c, int internal)
{
	unsigned i;

	fprintf(o, "\t%s = \"", key);
	for (i = 0; i < c->nreplicas; i++)
		fprintf(o, "%s%u", i ? "," : "",
		    internal ? c->replicas[i].internal_port :
		    c->replicas[i].client_port);
	fputs("\",\n", o);
}

static void
gen_tables(FILE *o, const struct config *c)
{
	unsigned i;

	fputs("-- ---- protocol tables (generated from wire/wire.def) "
	    "-----------------\n\nlocal WIRE = {\n", o);
	fprintf(o, "\tmagic = 0x%04X, header_size = %u, version_min = %u, "
	    "version_max = %u,\n", WIRE_MAGIC, WIRE_HEADER_SIZE,
	    WIRE_VERSION_MIN, WIRE_VERSION_MAX);
	fprintf(o, "\tflag_mac = 0x%02X, mac_bytes = %u,\n", WIRE_FLAG_MAC,
	    AUTH_MAC_BYTES);
	fprintf(o, "\t-- the largest payload of any port and direction\n"
	    "\tmax_payload = %u,\n", WIRE_MAX_PAYLOAD_INTERNAL);
	put_ports(o, "client_ports", c, 0);
	put_ports(o, "internal_ports", c, 1);
	fputs("}\n\n-- List items by name.\nlocal ITEMS = {\n", o);
	for (i = 0; i < wire_nitems; i++) {
		fprintf(o, "[\"%s\"] = { name = \"%s\",\n", wire_items[i].name,
		    wire_items[i].name);
		put_fields(o, &wire_items[i]);
	}
	fputs("}\n\n-- Opcodes by number; log records (0x03xx) are the "
	    "layouts of RECORD payloads.\nlocal OPS = {\n", o);
	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];

		fprintf(o, "[0x%04X] = { name = \"%s\", port = \"%s\", "
		    "dir = \"%s\",\n", d->opcode, d->name, port_names[d->port],
		    dir_names[d->dir]);
		put_fields(o, &d->body);
	}
	fputs("}\n\n-- Error codes.\nlocal ERRORS = {\n", o);
	for (i = 0; i < wire_nerrors; i++)
		fprintf(o, "\t[%u] = \"%s\",\n", wire_errors[i].code,
		    wire_errors[i].name);
	fputs("}\n", o);
	for (i = 0; i < NANNOTATIONS; i++)
		if (annotation_used[i] != 1) {
			fprintf(stderr, "wirelua: annotation %s.%s matches %u "
			    "fields in wire/wire.def, not 1: update the table "
			    "in tools/wirelua.c\n", annotations[i].layout,
			    annotations[i].field, annotation_used[i]);
			exit(1);
		}
}

int
main(int argc, char **argv)
{
	struct config conf;
	char err[512], *line = NULL;
	size_t cap = 0;
	int tables = 0;
	FILE *t;

	if (argc != 3) {
		fputs("usage: wirelua TEMPLATE CONF > chat.lua\n"
		    "  TEMPLATE: tools/wirelua.lua; CONF: the replicas.conf "
		    "whose ports are the defaults\n", stderr);
		return 2;
	}
	if (config_load(&conf, argv[2], err, sizeof err) < 0) {
		fprintf(stderr, "wirelua: %s\n", err);
		return 1;
	}
	if ((t = fopen(argv[1], "r")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	while (getline(&line, &cap, t) >= 0)
		if (strcmp(line, TABLES_LINE) == 0 && !tables++)
			gen_tables(stdout, &conf);
		else
			fputs(line, stdout);
	free(line);
	if (ferror(t) || tables != 1) {
		fprintf(stderr, "%s: %s\n", argv[1], ferror(t) ? "read error" :
		    "needs exactly one line \"--@TABLES@\"");
		return 1;
	}
	fclose(t);
	return fflush(stdout) != 0 || ferror(stdout);
}
