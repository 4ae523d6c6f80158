/* The debug-info stage (`view --debug-info`): babeltrace2 2.0's
 * flt.lttng-utils.debug-info, between the merge and the printer. Private to
 * lib/reader/debuginfo. See docs/design/debuginfo.md. */
#ifndef RTR_READER_DEBUGINFO_H
#define RTR_READER_DEBUGINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- u64 -> pointer hash map (open addressing) ---- */
struct rtr__di_map {
	uint64_t *keys;
	void **vals; /* NULL: free slot */
	size_t cap, n;
};
void *rtr__di_map_get(const struct rtr__di_map *m, uint64_t k);
/* Sets k to v (v != NULL). Returns 0 or -ENOMEM. */
int rtr__di_map_put(struct rtr__di_map *m, uint64_t k, void *v);
/* Calls fn on every value (may be NULL), then empties the map. */
void rtr__di_map_clear(struct rtr__di_map *m, void (*fn)(void *));

/* ---- files on disk (bin.c): opened once, shared by every process ---- */
struct rtr__di_files;
struct rtr__di_files *rtr__di_files_new(void);
void rtr__di_files_free(struct rtr__di_files *fs);

/* One binary mapped in one process (babeltrace2's bin_info). */
struct rtr__di_bin {
	char *elf_path; /* the target prefix joined with the traced path */
	const char *short_path;
	uint64_t lo, hi; /* [baddr, baddr + memsz) */
	bool pic;
	uint8_t *build_id; /* set by a build_id event */
	size_t build_id_len;
	bool build_id_match; /* the file on disk has that build id */
	char *dbg_link;	     /* set by a debug_link event */
	uint32_t dbg_crc;
	bool elf_only;		  /* no DWARF found: ELF symbols only */
	struct rtr__di_file *dwf; /* the file whose DWARF serves, or NULL */
	const char *dir, *prefix; /* options (owned by the stage) */
};

/* What an address resolves to (babeltrace2's debug_info_source): strings
 * owned by the file cache. */
struct rtr__di_src {
	const char *func; /* "name+0x.." or NULL */
	const char *src;  /* full source path or NULL */
	int64_t line;
};

/* A new bin for a bin_info / dlopen / lib load event (path not
 * NUL-terminated). NULL on no memory. */
struct rtr__di_bin *rtr__di_bin_new(const char *path, size_t len, uint64_t baddr, uint64_t memsz,
				    bool pic, const char *dir, const char *prefix);
void rtr__di_bin_free(void *bin);
/* A build_id event for bin: the id is kept, and compared with the file's. */
void rtr__di_bin_set_build_id(struct rtr__di_files *fs, struct rtr__di_bin *b, const uint8_t *id,
			      size_t n);
/* A debug_link event for bin. */
void rtr__di_bin_set_debug_link(struct rtr__di_bin *b, const char *name, size_t len, uint32_t crc);
/* Resolves ip (inside b): 0 with *out, or -1 when babeltrace2 gives no
 * source at all (a build id that does not match the file). */
int rtr__di_bin_resolve(struct rtr__di_files *fs, struct rtr__di_bin *b, uint64_t ip,
			struct rtr__di_src *out);

/* ---- paths, as GLib builds them (bin.c) ---- */
/* g_build_filename(a, b, c) (c may be NULL); malloc'd or NULL. */
char *rtr__di_path_join(const char *a, const char *b, const char *c);
/* The file name part as babeltrace2 takes it (the whole path when it ends
 * with '/'). */
const char *rtr__di_basename(const char *path);

#endif /* RTR_READER_DEBUGINFO_H */
