/*
 * recd_policy.c — snapshot reader, cache and decision shared by
 * libnss_recd.so.2 and pam_recd.so. libc only, no threads of its own.
 *
 * State: one current snapshot (refcounted) behind one mutex that is never held
 * across a nested NSS call. pthread_atfork handlers take the mutex around
 * fork(), so a child never inherits it locked. The policy file is stat'ed at
 * most once per lookup — in fact at most once per RECD_CHECK_NS (100 ms,
 * CLOCK_MONOTONIC_COARSE) per process, together with /etc/passwd and
 * /etc/group, and always on a process's first lookup — and re-read only when
 * its stamp (dev, ino, mtime, size) changed. So a change to any of the three
 * shows within about 100 ms. No environment variable is read.
 */
#include "recd_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Keep every libc symbol at a version glibc 2.17 has: stat/fstat became real
 * symbols only in glibc 2.33; before that they were __xstat/__fxstat. */
extern int __xstat(int ver, const char *path, struct stat *st);
extern int __fxstat(int ver, int fd, struct stat *st);
#if defined(__x86_64__)
#define RECD_STAT_VER 1
#elif defined(__aarch64__) || defined(__powerpc64__) || defined(__s390x__)
#define RECD_STAT_VER 0
#else
#error "set RECD_STAT_VER (_STAT_VER_LINUX) for this architecture"
#endif

/* How often a process re-stats the policy, /etc/passwd and /etc/group. */
#define RECD_CHECK_NS (100LL * 1000 * 1000)
#define RECD_GROW_MAX (1u << 20)

/* ---- logging ---- */

static unsigned logged; /* bit per problem; set atomically */

void recd_log_once(unsigned problem, const char *fmt, ...)
{
	unsigned bit = 1u << (problem & 31);
	if (__atomic_fetch_or(&logged, bit, __ATOMIC_RELAXED) & bit)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	syslog(LOG_AUTHPRIV | LOG_WARNING, "recd: %s", msg);
}

/* ---- parsing ---- */

static int parse_num(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int list_add(struct recd_list *l, const char *v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		const char **nv = realloc(l->v, cap * sizeof *nv);
		if (!nv)
			return -2;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = v;
	return 0;
}

static struct recd_ent *ent_add(struct recd_snap *s)
{
	if (s->n_ents == s->cap_ents) {
		size_t cap = s->cap_ents ? s->cap_ents * 2 : 64;
		struct recd_ent *n = realloc(s->ents, cap * sizeof *n);
		if (!n)
			return NULL;
		s->ents = n;
		s->cap_ents = cap;
	}
	struct recd_ent *e = &s->ents[s->n_ents++];
	memset(e, 0, sizeof *e);
	return e;
}

/* Splits s (NUL-terminated) at ':' into exactly n fields, in place. */
static int split(char *s, char **f, int n)
{
	int i = 0;
	f[i++] = s;
	for (char *p = s; *p; p++) {
		if (*p == ':') {
			if (i == n)
				return -1;
			*p = 0;
			f[i++] = p + 1;
		}
	}
	return i == n ? 0 : -1;
}

static int parse_stamp(char *v, struct recd_snap *s)
{
	char *f[6];
	int n = 0;
	f[n++] = v;
	for (char *p = v; *p; p++) {
		if (*p == ' ') {
			if (n == 6)
				return -1;
			*p = 0;
			f[n++] = p + 1;
		}
	}
	if (n != 6)
		return -1;
	uint64_t x[5];
	static const uint64_t max[5] = {UINT64_MAX, UINT64_MAX, INT64_MAX, 999999999, INT64_MAX};
	for (int i = 0; i < 5; i++)
		if (parse_num(f[i + 1], strlen(f[i + 1]), max[i], &x[i]))
			return -1;
	struct recd_stamp st = {x[0], x[1], (int64_t)x[2], (int64_t)x[3], (int64_t)x[4]};
	if (!strcmp(f[0], "passwd") && !s->have_passwd_stamp) {
		s->passwd_stamp = st;
		s->have_passwd_stamp = 1;
	} else if (!strcmp(f[0], "group") && !s->have_group_stamp) {
		s->group_stamp = st;
		s->have_group_stamp = 1;
	} else
		return -1;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	const struct recd_ent *x = *(struct recd_ent *const *)a, *y = *(struct recd_ent *const *)b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x < y ? -1 : x > y;
}

static int cmp_uid(const void *a, const void *b)
{
	const struct recd_ent *x = *(struct recd_ent *const *)a, *y = *(struct recd_ent *const *)b;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x < y ? -1 : x > y;
}

void recd_snap_free(struct recd_snap *s)
{
	if (!s)
		return;
	free(s->users.v);
	free(s->groups.v);
	free(s->exusers.v);
	free(s->exgroups.v);
	free(s->ents);
	free(s->by_name);
	free(s->by_uid);
	free(s->buf);
	free(s);
}

static int parse(struct recd_snap *s)
{
	char *p = s->buf, *end = s->buf + s->len;
	int have_scope = 0, have_recorder = 0, have_tlog = 0, ended = 0, r;
	if (memchr(p, 0, s->len))
		return -1;
	for (int lineno = 0; p < end; lineno++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return -1;
		*nl = 0;
		char *line = p;
		p = nl + 1;
		if (lineno == 0) {
			if (strcmp(line, "recd-policy 1"))
				return -1;
			continue;
		}
		if (!strcmp(line, "end")) {
			ended = 1;
			break;
		}
		char *val = strchr(line, ' ');
		if (val)
			*val++ = 0;
		else
			val = line + strlen(line); /* "" */
		if (!strcmp(line, "scope")) {
			if (have_scope++)
				return -1;
			if (!strcmp(val, "none"))
				s->scope = RECD_SCOPE_NONE;
			else if (!strcmp(val, "some"))
				s->scope = RECD_SCOPE_SOME;
			else if (!strcmp(val, "all"))
				s->scope = RECD_SCOPE_ALL;
			else
				return -1;
		} else if (!strcmp(line, "recorder")) {
			if (have_recorder++ || val[0] != '/')
				return -1;
			s->recorder = val;
		} else if (!strcmp(line, "user") || !strcmp(line, "group") ||
			   !strcmp(line, "exclude-user") || !strcmp(line, "exclude-group")) {
			if (!*val)
				return -1;
			struct recd_list *l = line[0] == 'u' ? &s->users : line[0] == 'g' ? &s->groups
					      : line[8] == 'u' ? &s->exusers : &s->exgroups;
			if ((r = list_add(l, val)))
				return r;
		} else if (!strcmp(line, "tlog-conf")) {
			uint64_t n;
			if (have_tlog++ || parse_num(val, strlen(val), RECD_TLOG_CONF_MAX, &n) || n == 0)
				return -1;
			if ((uint64_t)(end - p) < n + 1 || p[n] != '\n')
				return -1;
			s->tlog_conf = p;
			p[n] = 0;
			p += n + 1;
		} else if (!strcmp(line, "stamp")) {
			if (parse_stamp(val, s))
				return -1;
		} else if (!strcmp(line, "rec") || !strcmp(line, "norec")) {
			int rec = line[0] == 'r';
			char *f[7];
			uint64_t uid, gid = 0;
			if (split(val, f, rec ? 7 : 2) || !*f[0])
				return -1;
			if (parse_num(f[rec ? 2 : 1], strlen(f[rec ? 2 : 1]), UINT32_MAX, &uid))
				return -1;
			if (rec && parse_num(f[3], strlen(f[3]), UINT32_MAX, &gid))
				return -1;
			struct recd_ent *e = ent_add(s);
			if (!e)
				return -2;
			e->name = f[0];
			e->uid = (uint32_t)uid;
			e->record = rec;
			if (rec) {
				e->passwd = f[1];
				e->gid = (uint32_t)gid;
				e->gecos = f[4];
				e->dir = f[5];
				e->shell = f[6];
			}
		} else
			return -1;
	}
	if (!ended || p != end || !have_scope || !have_recorder)
		return -1;
	if (!s->have_passwd_stamp || !s->have_group_stamp)
		s->n_ents = 0; /* no cache without both stamps */
	if (s->n_ents) {
		s->by_name = malloc(s->n_ents * sizeof *s->by_name);
		s->by_uid = malloc(s->n_ents * sizeof *s->by_uid);
		if (!s->by_name || !s->by_uid)
			return -2;
		for (size_t i = 0; i < s->n_ents; i++)
			s->by_name[i] = s->by_uid[i] = &s->ents[i];
		qsort(s->by_name, s->n_ents, sizeof *s->by_name, cmp_name);
		qsort(s->by_uid, s->n_ents, sizeof *s->by_uid, cmp_uid);
	}
	return 0;
}

int recd_snap_parse(const char *data, size_t len, struct recd_snap **out)
{
	*out = NULL;
	if (len > RECD_POLICY_MAX)
		return -1;
	struct recd_snap *s = calloc(1, sizeof *s);
	if (!s)
		return -2;
	s->buf = malloc(len + 1);
	if (!s->buf) {
		free(s);
		return -2;
	}
	memcpy(s->buf, data, len);
	s->buf[len] = 0;
	s->len = len;
	s->refs = 1;
	int r = parse(s);
	if (r) {
		recd_snap_free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* ---- cache lookups (first entry in file order wins) ---- */

static struct recd_ent *find_name(const struct recd_snap *s, const char *name)
{
	size_t lo = 0, hi = s->n_ents;
	while (lo < hi) { /* lower bound */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->by_name[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n_ents && !strcmp(s->by_name[lo]->name, name) ? s->by_name[lo] : NULL;
}

static struct recd_ent *find_uid(const struct recd_snap *s, uint32_t uid)
{
	size_t lo = 0, hi = s->n_ents;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->by_uid[mid]->uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n_ents && s->by_uid[lo]->uid == uid ? s->by_uid[lo] : NULL;
}

/* ---- shared state ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct recd_snap *cur;         /* NULL: record nobody */
static int loaded;                    /* policy_stamp/policy_state are valid */
static int policy_missing;            /* the last stat failed */
static struct recd_stamp policy_stamp;
static struct recd_stamp files_now[2]; /* passwd, group; as last stat'ed */
static int files_ok[2];
static long long checked_at;           /* CLOCK_MONOTONIC_COARSE of the last stats */

static void atfork_prepare(void) { pthread_mutex_lock(&lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&lock); }
static void atfork_child(void)
{
	static const pthread_mutex_t init = PTHREAD_MUTEX_INITIALIZER;
	memcpy(&lock, &init, sizeof lock);
}

__attribute__((constructor)) static void recd_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void release_locked(struct recd_snap *s)
{
	if (s && --s->refs == 0)
		recd_snap_free(s);
}

/* Runs at dlclose and at exit (valgrind's __libc_freeres unloads NSS modules). */
__attribute__((destructor)) static void recd_fini(void)
{
	pthread_mutex_lock(&lock);
	release_locked(cur);
	cur = NULL;
	loaded = 0;
	pthread_mutex_unlock(&lock);
}

static void stamp_of(const struct stat *st, struct recd_stamp *o)
{
	o->dev = (uint64_t)st->st_dev;
	o->ino = (uint64_t)st->st_ino;
	o->sec = (int64_t)st->st_mtim.tv_sec;
	o->nsec = (int64_t)st->st_mtim.tv_nsec;
	o->size = (int64_t)st->st_size;
}

static int stamp_eq(const struct recd_stamp *a, const struct recd_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->sec == b->sec &&
	       a->nsec == b->nsec && a->size == b->size;
}

static long long now_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts))
		return -1;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Reads the policy file; called with the lock held, only when it changed.
 * Sets policy_stamp to what was read, cur to the new snapshot or NULL. */
static void load_locked(int missing, const struct recd_stamp *seen)
{
	struct recd_snap *s = NULL;
	struct stat st;
	char *data = NULL;
	int fd = -1;
	/* Remember what the stat saw, so a file we cannot use is not retried on
	 * every lookup, only when it changes. */
	policy_missing = missing;
	if (!missing)
		policy_stamp = *seen;
	if (missing) {
		recd_log_once(RECD_LOG_MISSING, "%s is missing: recording nobody", RECD_POLICY_PATH);
		goto out;
	}
	fd = open(RECD_POLICY_PATH, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			recd_log_once(RECD_LOG_MISSING, "%s is missing: recording nobody", RECD_POLICY_PATH);
		else
			recd_log_once(RECD_LOG_OPEN, "cannot open %s (%s): recording nobody",
				      RECD_POLICY_PATH, strerror(errno));
		goto out;
	}
	if (__fxstat(RECD_STAT_VER, fd, &st)) {
		recd_log_once(RECD_LOG_OPEN, "cannot stat %s: recording nobody", RECD_POLICY_PATH);
		goto out;
	}
	stamp_of(&st, &policy_stamp);
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > RECD_POLICY_MAX) {
		recd_log_once(RECD_LOG_TOOBIG, "%s is not a regular file of at most %u bytes: recording nobody",
			      RECD_POLICY_PATH, RECD_POLICY_MAX);
		goto out;
	}
	size_t want = (size_t)st.st_size, got = 0;
	data = malloc(want + 1);
	if (!data) {
		recd_log_once(RECD_LOG_NOMEM, "out of memory reading %s: recording nobody", RECD_POLICY_PATH);
		goto out;
	}
	for (;;) { /* read one byte more than expected to catch a growing file */
		ssize_t n = read(fd, data + got, want + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			recd_log_once(RECD_LOG_READ, "cannot read %s: recording nobody", RECD_POLICY_PATH);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > want)
			break;
	}
	if (got != want) {
		/* changed while read: forget the stamp so the next lookup retries */
		memset(&policy_stamp, 0, sizeof policy_stamp);
		goto out;
	}
	int r = recd_snap_parse(data, got, &s);
	if (r == -2)
		recd_log_once(RECD_LOG_NOMEM, "out of memory parsing %s: recording nobody", RECD_POLICY_PATH);
	else if (r)
		recd_log_once(RECD_LOG_INVALID, "%s is not a valid recd policy snapshot: recording nobody",
			      RECD_POLICY_PATH);
out:
	free(data);
	if (fd >= 0)
		close(fd);
	release_locked(cur);
	cur = s;
	__atomic_store_n(&loaded, 1, __ATOMIC_RELAXED);
}

/* Returns the current snapshot with a reference taken (or NULL) and whether
 * its cache may be used. The policy file, /etc/passwd and /etc/group are
 * stat'ed at most once per RECD_CHECK_NS per process (so at most one stat of
 * the policy per lookup, usually none), and always on the first lookup. */
static struct recd_snap *acquire(int *cache_ok)
{
	static const char *const paths[2] = {"/etc/passwd", "/etc/group"};
	struct stat st;
	struct recd_stamp pnow, fnow[2];
	int missing = 0, fok[2] = {0, 0};
	long long t = now_ns();
	long long last = __atomic_load_n(&checked_at, __ATOMIC_RELAXED);
	if (t < 0) /* no clock: check every time */
		t = last + RECD_CHECK_NS;
	int due = !__atomic_load_n(&loaded, __ATOMIC_RELAXED) || t - last >= RECD_CHECK_NS || t < last;
	if (due) {
		missing = __xstat(RECD_STAT_VER, RECD_POLICY_PATH, &st) != 0;
		if (!missing)
			stamp_of(&st, &pnow);
		for (int i = 0; i < 2; i++)
			if (!__xstat(RECD_STAT_VER, paths[i], &st)) {
				stamp_of(&st, &fnow[i]);
				fok[i] = 1;
			}
	}
	pthread_mutex_lock(&lock);
	if (due && (!loaded || t >= checked_at)) {
		if (!loaded || missing != policy_missing || (!missing && !stamp_eq(&pnow, &policy_stamp)))
			load_locked(missing, &pnow);
		for (int i = 0; i < 2; i++) {
			files_ok[i] = fok[i];
			if (fok[i])
				files_now[i] = fnow[i];
		}
		__atomic_store_n(&checked_at, t, __ATOMIC_RELAXED);
	}
	struct recd_snap *s = cur;
	*cache_ok = s && s->n_ents && files_ok[0] && files_ok[1] &&
		    stamp_eq(&files_now[0], &s->passwd_stamp) && stamp_eq(&files_now[1], &s->group_stamp);
	if (s)
		s->refs++;
	pthread_mutex_unlock(&lock);
	return s;
}

static void release(struct recd_snap *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&lock);
	release_locked(s);
	pthread_mutex_unlock(&lock);
}

/* ---- decision ---- */

static int in_list(const struct recd_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], name))
			return 1;
	return 0;
}

/* Is the user a member of any group in l (primary GID or listed member)?
 * Group lookups do not go through recd. Errors count as "not a member". */
static int member_of_any(const struct recd_list *l, const char *user, gid_t gid)
{
	char stackbuf[2048];
	char *buf = stackbuf, *heap = NULL;
	size_t len = sizeof stackbuf;
	int found = 0;
	for (size_t i = 0; i < l->n && !found; i++) {
		struct group gr, *res = NULL;
		int r;
		while ((r = getgrnam_r(l->v[i], &gr, buf, len, &res)) == ERANGE && len < RECD_GROW_MAX) {
			len *= 2;
			char *n = realloc(heap, len);
			if (!n)
				break;
			heap = buf = n;
		}
		if (r == ERANGE && len >= RECD_GROW_MAX) {
			recd_log_once(RECD_LOG_GROUP, "group %s is larger than %u bytes; treated as absent",
				      l->v[i], RECD_GROW_MAX);
		}
		if (r || !res)
			continue; /* absent (or error): matches nobody */
		if (gr.gr_gid == gid) {
			found = 1;
			break;
		}
		for (char **m = gr.gr_mem; m && *m; m++)
			if (!strcmp(*m, user)) {
				found = 1;
				break;
			}
	}
	free(heap);
	return found;
}

static int decide(const struct recd_snap *s, const char *name, gid_t gid)
{
	switch (s->scope) {
	case RECD_SCOPE_SOME:
		return in_list(&s->users, name) || member_of_any(&s->groups, name, gid);
	case RECD_SCOPE_ALL:
		return !in_list(&s->exusers, name) && !member_of_any(&s->exgroups, name, gid);
	}
	return 0;
}

/* Copies an entry into the caller's buffer. */
static int fill(struct passwd *pw, char *buf, size_t len, const char *name, const char *passwd,
		uid_t uid, gid_t gid, const char *gecos, const char *dir, const char *shell)
{
	const char *src[5] = {name, passwd ? passwd : "", gecos ? gecos : "", dir ? dir : "",
			      shell ? shell : ""};
	size_t l[5], total = 0;
	for (int i = 0; i < 5; i++) {
		l[i] = strlen(src[i]) + 1;
		total += l[i];
	}
	if (total > len)
		return RECD_ERANGE;
	char *dst[5];
	char *p = buf;
	for (int i = 0; i < 5; i++) {
		memcpy(p, src[i], l[i]);
		dst[i] = p;
		p += l[i];
	}
	pw->pw_name = dst[0];
	pw->pw_passwd = dst[1];
	pw->pw_uid = uid;
	pw->pw_gid = gid;
	pw->pw_gecos = dst[2];
	pw->pw_dir = dst[3];
	pw->pw_shell = dst[4];
	return RECD_YES;
}

static char *dup_tlog(const struct recd_snap *s)
{
	return s->tlog_conf ? strdup(s->tlog_conf) : NULL;
}

int recd_lookup(const char *name, uid_t uid, struct passwd *pw, char *buf, size_t len,
		int swap_shell, recd_real_fn real, char **tlog_conf, const char **why)
{
	int cache_ok, ret = RECD_NO;
	const char *dummy;
	if (!why)
		why = &dummy;
	if (tlog_conf)
		*tlog_conf = NULL;
	struct recd_snap *s = acquire(&cache_ok);
	if (!s) {
		*why = "no valid policy snapshot";
		return RECD_NO;
	}
	if (s->scope == RECD_SCOPE_NONE) {
		*why = "scope is none";
		goto out;
	}
	if (cache_ok) {
		struct recd_ent *e = name ? find_name(s, name) : find_uid(s, (uint32_t)uid);
		if (e) {
			if (!e->record) {
				*why = "not recorded (compiled cache)";
				goto out;
			}
			*why = "recorded (compiled cache)";
			if (!swap_shell && !strcmp(e->shell, s->recorder)) {
				*why = "the real shell is the recorder; ignored";
				goto out;
			}
			ret = fill(pw, buf, len, e->name, e->passwd, e->uid, e->gid, e->gecos, e->dir,
				   swap_shell ? s->recorder : e->shell);
			if (ret == RECD_YES && tlog_conf)
				*tlog_conf = dup_tlog(s);
			goto out;
		}
	}
	if (name && s->scope == RECD_SCOPE_SOME && s->groups.n == 0 && !in_list(&s->users, name)) {
		*why = "not listed in users";
		goto out;
	}
	/* Slow path: the real entry from the sources, then the rules. */
	{
		char stackbuf[2048];
		char *rbuf = stackbuf, *heap = NULL;
		size_t rlen = sizeof stackbuf;
		struct passwd rpw, *res = NULL;
		int r;
		while ((r = real(name, uid, &rpw, rbuf, rlen, &res)) == ERANGE && rlen < RECD_GROW_MAX) {
			rlen *= 2;
			char *n = realloc(heap, rlen);
			if (!n)
				break;
			heap = rbuf = n;
		}
		if (r && r != ENOENT && r != ESRCH && r != EBADF && r != EPERM)
			recd_log_once(RECD_LOG_LOOKUP, "looking up the real entry failed (%s)", strerror(r));
		if (r || !res) {
			*why = "unknown to the other sources";
		} else if (!decide(s, rpw.pw_name, rpw.pw_gid)) {
			*why = "not recorded (live evaluation)";
		} else if (!swap_shell && rpw.pw_shell && !strcmp(rpw.pw_shell, s->recorder)) {
			/* the entry came through libnss_recd after all (e.g. nscd) */
			*why = "the real shell is the recorder; ignored";
			recd_log_once(RECD_LOG_DL, "real shell of %s is the recorder; not recorded",
				      rpw.pw_name);
		} else {
			*why = "recorded (live evaluation)";
			ret = fill(pw, buf, len, rpw.pw_name, rpw.pw_passwd, rpw.pw_uid, rpw.pw_gid,
				   rpw.pw_gecos, rpw.pw_dir, swap_shell ? s->recorder : rpw.pw_shell);
			if (ret == RECD_YES && tlog_conf)
				*tlog_conf = dup_tlog(s);
		}
		free(heap);
	}
out:
	release(s);
	return ret;
}
