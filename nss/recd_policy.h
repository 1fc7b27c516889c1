/*
 * recd_policy — the policy snapshot reader and the recording decision, shared
 * by libnss_recd.so.2 and pam_recd.so (each module compiles its own copy, with
 * hidden visibility, so the two never bind to each other's symbols).
 *
 * The snapshot (/var/lib/recd/policy) is written by Go (internal/snapshot);
 * its format is documented there. An unreadable, missing or invalid snapshot
 * means "record nobody"; every problem is logged to syslog once per process.
 */
#ifndef RECD_POLICY_H
#define RECD_POLICY_H

#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RECD_POLICY_PATH "/var/lib/recd/policy"
#define RECD_POLICY_MAX (4u << 20)
#define RECD_TLOG_CONF_MAX (64u << 10)
#define RECD_HIDDEN __attribute__((visibility("hidden")))
#define RECD_EXPORT __attribute__((visibility("default")))

enum recd_scope { RECD_SCOPE_NONE, RECD_SCOPE_SOME, RECD_SCOPE_ALL };

struct recd_stamp {
	uint64_t dev, ino;
	int64_t sec, nsec, size;
};

struct recd_ent {
	const char *name, *passwd, *gecos, *dir, *shell;
	uint32_t uid, gid;
	int record;
};

struct recd_list {
	const char **v;
	size_t n, cap;
};

struct recd_snap {
	int refs;                 /* protected by the state lock */
	char *buf;                /* the file, NUL-terminated, parsed in place */
	size_t len;
	int scope;
	const char *recorder;
	const char *tlog_conf;    /* NULL when absent */
	struct recd_list users, groups, exusers, exgroups;
	int have_passwd_stamp, have_group_stamp;
	struct recd_stamp passwd_stamp, group_stamp;
	struct recd_ent *ents;
	size_t n_ents, cap_ents;
	struct recd_ent **by_name, **by_uid; /* sorted; ties in file order */
};

/* Parses a snapshot from data (not necessarily NUL-terminated). Returns 0 and
 * a new snapshot with refs = 1, or -1 (invalid) / -2 (out of memory). */
RECD_HIDDEN int recd_snap_parse(const char *data, size_t len, struct recd_snap **out);
RECD_HIDDEN void recd_snap_free(struct recd_snap *s);

/* The lookups of the real entry: by name when name != NULL, else by uid.
 * Same contract as getpwnam_r/getpwuid_r. */
typedef int (*recd_real_fn)(const char *name, uid_t uid, struct passwd *pw,
			    char *buf, size_t len, struct passwd **res);

enum recd_result {
	RECD_NO = 0,      /* not recorded, unknown, or any problem */
	RECD_YES = 1,     /* recorded: pw filled in */
	RECD_ERANGE = 2,  /* recorded but buf too small */
};

/*
 * recd_lookup decides whether the user (by name when name != NULL, else by
 * uid) is recorded. On RECD_YES, pw and buf hold the user's real entry with
 * pw_shell = the recorder when swap_shell, else the real shell. real is used
 * for the slow path. When tlog_conf is not NULL and the answer is RECD_YES, it
 * receives a malloc'd copy of the tlog configuration text (or NULL).
 * When debug is set, the decision is logged.
 */
RECD_HIDDEN int recd_lookup(const char *name, uid_t uid, struct passwd *pw, char *buf,
			    size_t len, int swap_shell, recd_real_fn real,
			    char **tlog_conf, const char **why);

/* Log once per process and per problem (problem < 32). */
RECD_HIDDEN void recd_log_once(unsigned problem, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

enum {
	RECD_LOG_MISSING, RECD_LOG_OPEN, RECD_LOG_INVALID, RECD_LOG_TOOBIG, RECD_LOG_NOMEM,
	RECD_LOG_LOOKUP, RECD_LOG_GROUP, RECD_LOG_READ, RECD_LOG_PAM, RECD_LOG_DL,
	RECD_LOG_PAMOPT, RECD_LOG_PAMUSER, RECD_LOG_RECD, RECD_LOG_RECDREPLY,
};

#endif
