/*
 * wiredesc.h — names for the codec's descriptor enums, shared by the
 * generators that walk wire_ops/wire_items (tools/wiredoc.c for
 * PROTOCOL.md, tools/wirelua.c for the Wireshark dissector), so both
 * describe the table in the same words.
 */
#ifndef CHATD_TOOLS_WIREDESC_H
#define CHATD_TOOLS_WIREDESC_H

#include <stdint.h>
#include "wire.h"

/* Indexed by enum wire_port, enum wire_dir, enum wire_type. */
static const char *const port_names[] =
    { "both", "client", "internal", "log record" };
static const char *const dir_names[] =
    { "either way", "request", "response", "push", "peer", "log" };
static const char *const type_names[] =
    { "U8", "U16", "U32", "U64", "STR", "BYTES", "LIST" };

/* The largest value of an integer type (0 for the others): a field whose
 * range ends there has no upper limit of its own. */
static inline uint64_t
type_max(enum wire_type t)
{
	static const uint64_t max[] =
	    { 0xFFu, 0xFFFFu, 0xFFFFFFFFu, UINT64_MAX };
	return t <= WT_U64 ? max[t] : 0;
}

#endif
