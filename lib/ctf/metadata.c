/* TSDL (CTF 1.8) metadata generation from event descriptions, clock and
 * env. See docs/design/ctf-writer.md §4. (Implementation in progress.) */
#include <errno.h>
#include <stdlib.h>

#include "ctf-writer.h"

struct rtr_ctf_meta {
	int unused;
};

int rtr_ctf_event_check(const struct rtr_event_desc *ev, char *err, size_t errlen)
{
	(void)ev; (void)err; (void)errlen;
	return -ENOSYS;
}
struct rtr_ctf_meta *rtr_ctf_meta_create(const uint8_t uuid[16], enum rtr_ctf_byte_order bo)
{
	(void)uuid; (void)bo;
	return calloc(1, sizeof(struct rtr_ctf_meta));
}
void rtr_ctf_meta_destroy(struct rtr_ctf_meta *m) { free(m); }
const char *rtr_ctf_meta_error(const struct rtr_ctf_meta *m) { (void)m; return "not implemented"; }
int rtr_ctf_meta_set_clock(struct rtr_ctf_meta *m, const struct rtr_clock_desc *clk) { (void)m; (void)clk; return -ENOSYS; }
int rtr_ctf_meta_env_string(struct rtr_ctf_meta *m, const char *key, const char *value) { (void)m; (void)key; (void)value; return -ENOSYS; }
int rtr_ctf_meta_env_int(struct rtr_ctf_meta *m, const char *key, int64_t value) { (void)m; (void)key; (void)value; return -ENOSYS; }
int rtr_ctf_meta_env_clock(struct rtr_ctf_meta *m, const struct rtr_clock_meta *cm) { (void)m; (void)cm; return -ENOSYS; }
int rtr_ctf_meta_env_sync_list(struct rtr_ctf_meta *m, const struct rtr_clock_sync *pts, size_t n) { (void)m; (void)pts; (void)n; return -ENOSYS; }
int rtr_ctf_meta_env_std(struct rtr_ctf_meta *m, const struct rtr_ctf_std_env *e) { (void)m; (void)e; return -ENOSYS; }
int rtr_ctf_meta_add_stream(struct rtr_ctf_meta *m, uint32_t id, const char *name) { (void)m; (void)id; (void)name; return -ENOSYS; }
int rtr_ctf_meta_add_event(struct rtr_ctf_meta *m, uint32_t id, uint32_t stream_id, const struct rtr_event_desc *ev) { (void)m; (void)id; (void)stream_id; (void)ev; return -ENOSYS; }
int rtr_ctf_meta_render(const struct rtr_ctf_meta *m, char **text, size_t *len) { (void)m; (void)text; (void)len; return -ENOSYS; }
int rtr_ctf_meta_write(const struct rtr_ctf_meta *m, int dirfd, const char *name) { (void)m; (void)dirfd; (void)name; return -ENOSYS; }
