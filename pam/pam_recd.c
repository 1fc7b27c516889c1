/*
 * pam_recd.so — session module for recd (Linux-PAM 1.1.8 API, libc + libpam).
 *
 * pam_sm_open_session: when the policy records PAM_USER, put
 * TLOG_REC_SESSION_SHELL=<real shell> (and, when the snapshot carries tlog
 * configuration text, TLOG_REC_SESSION_CONF_TEXT=<json>) into the PAM
 * environment, for the recorder that libnss_recd.so.2 put in as the user's
 * shell. The decision is the NSS module's: the same code (nss/recd_policy.c)
 * evaluates the same snapshot.
 *
 * The real shell: from the snapshot's compiled cache while it is current.
 * Otherwise (slow path) the real entry must come from the sources after recd;
 * a getpwnam_r issued here would be answered by libnss_recd with the recorder
 * shell, because the recursion guard is a thread-local of libnss_recd.so.2.
 * So pam_recd dlopen()s libnss_recd.so.2 and calls its exported
 * _nss_recd_real_getpwnam_r, which sets libnss_recd's own guard around
 * getpwnam_r. If libnss_recd.so.2 cannot be loaded it is not installed and so
 * not in nsswitch.conf, and plain getpwnam_r gives the real entry. As a last
 * check, a "real" shell equal to the recorder is refused.
 *
 * For a recorded user, pam_sm_open_session then registers the login with recd
 * over /run/recd/recd.sock, and pam_sm_close_session registers the logout
 * (best effort, at most 250 ms each; see "registration with recd" below).
 *
 * Every other entry point returns PAM_IGNORE. Errors never fail a login: they
 * give PAM_IGNORE and one syslog line. Option: debug (log decisions).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_SESSION
#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_PASSWORD
#include <security/pam_modules.h>

#include "../nss/recd_policy.h"

/* dlopen and friends moved into libc in glibc 2.34 (GLIBC_2.34); bind the old
 * versions, which libc keeps for compatibility and which libdl provides on
 * older systems (libpam links libdl there, so it is in our scope). Weak, so
 * that the module loads even where they cannot be found. */
__asm__(".symver dlopen,dlopen@GLIBC_2.2.5");
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dlclose,dlclose@GLIBC_2.2.5");
extern void *dlopen(const char *, int) __attribute__((weak));
extern void *dlsym(void *, const char *) __attribute__((weak));
extern int dlclose(void *) __attribute__((weak));

typedef int (*real_getpwnam_fn)(const char *, struct passwd *, char *, size_t, struct passwd **);

static __thread real_getpwnam_fn nss_real; /* set for the duration of one call */

static int real_lookup(const char *name, uid_t uid, struct passwd *pw, char *buf, size_t len,
		       struct passwd **res)
{
	if (!name)
		return getpwuid_r(uid, pw, buf, len, res); /* not used by pam */
	if (nss_real)
		return nss_real(name, pw, buf, len, res);
	return getpwnam_r(name, pw, buf, len, res);
}

/* ---- registration with recd ----
 *
 * pam_sm_open_session and pam_sm_close_session tell recd about the login of a
 * recorded user: one frame in internal/proto's format (4-byte big-endian
 * length, type byte 'J', JSON)
 *   {"op":"session-open","user":"alice","service":"sshd","tty":"/dev/pts/1",
 *    "rhost":"127.0.0.1","pid":123,"audit_session":4}
 * and one answer frame, whose "ok" is checked. Best effort: a non-blocking,
 * close-on-exec AF_UNIX socket, poll() and one budget of RECD_REG_BUDGET_MS for
 * connect, send and the answer together; MSG_NOSIGNAL, so a vanished recd
 * cannot SIGPIPE the login program. When recd is unreachable or refuses, one
 * syslog warning per process (recd_log_once) and the login goes on. recd
 * identifies the sender by SO_PEERCRED; pid and user here are information.
 *
 * As root (sshd, login, su: nearly always), pam_recd connects to root's own
 * socket RECD_ROOT_SOCKET_PATH first (mode 0600, recd serves only root there):
 * its listen backlog is root's alone, so a user flooding the world-connectable
 * RECD_SOCKET_PATH cannot make the registration queue behind the flood. When it
 * does not exist or nobody listens (recd stopped, an older recd), the public
 * socket is used, within the same budget.
 *
 * JSON strings: '"' and '\\' are escaped, control characters (< 0x20) become
 * \u00XX, valid UTF-8 passes through, and each byte that does not start a
 * valid UTF-8 sequence (overlongs, surrogates, > U+10FFFF, truncations) becomes
 * \ufffd — what Go's decoder would make of it anyway, so recd sees the same
 * string either way. An unset item is sent as "".
 */
#define RECD_SOCKET_PATH "/run/recd/recd.sock"
#define RECD_ROOT_SOCKET_PATH "/run/recd/root.sock"
#define RECD_REG_BUDGET_MS 250
#define RECD_REG_MAX (64u << 10)   /* bound on the frame we build */
#define RECD_REPLY_MAX 4096        /* a longer answer is not ours */
#define RECD_DATA_KEY "pam_recd.registered"

struct jbuf {
	char *p;
	size_t len, cap;
	int bad; /* out of memory or over RECD_REG_MAX */
};

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (n > RECD_REG_MAX - b->len) {
		b->bad = 1;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		while (cap < b->len + n)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->bad = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void jb_puts(struct jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* no overlongs */
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* <= U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static void jb_str(struct jbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t n = strlen((const char *)s);
	jb_put(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			jb_put(b, e, 2);
			i++;
		} else if (c < 0x20) {
			char e[7];
			snprintf(e, sizeof e, "\\u%04x", c);
			jb_put(b, e, 6);
			i++;
		} else if (c < 0x80) {
			jb_put(b, (const char *)s + i, 1);
			i++;
		} else {
			size_t l = utf8_len(s + i, n - i);
			if (l) {
				jb_put(b, (const char *)s + i, l);
				i += l;
			} else {
				jb_puts(b, "\\ufffd");
				i++;
			}
		}
	}
	jb_put(b, "\"", 1);
}

static const char *pam_str(pam_handle_t *pamh, int item)
{
	const void *v = NULL;
	if (pam_get_item(pamh, item, &v) != PAM_SUCCESS || !v)
		return "";
	return v;
}

/* The audit session ID of this process; 4294967295 (AUDIT_SID_UNSET) if unknown. */
static unsigned long audit_session(void)
{
	unsigned long v = 4294967295UL;
	char b[24];
	int fd = open("/proc/self/sessionid", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return v;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return v;
	b[n] = 0;
	unsigned long x = 0;
	int digits = 0;
	for (ssize_t i = 0; i < n && b[i] >= '0' && b[i] <= '9' && digits < 10; i++, digits++)
		x = x * 10 + (unsigned long)(b[i] - '0');
	return digits && x <= 4294967295UL ? x : v;
}

static long ms_left(const struct timespec *start)
{
	struct timespec now;
	if (clock_gettime(CLOCK_MONOTONIC, &now))
		return 0;
	long el = (long)(now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
	return RECD_REG_BUDGET_MS - el;
}

/* Waits for events on fd within the budget. 0 ready, -1 with errno set. */
static int wait_fd(int fd, short events, const struct timespec *start)
{
	for (;;) {
		long left = ms_left(start);
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* Reads exactly n bytes within the budget. */
static int recv_full(int fd, char *p, size_t n, const struct timespec *start)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r == 0) {
			errno = ECONNRESET;
			return -1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (wait_fd(fd, POLLIN, start))
				return -1;
		} else if (errno != EINTR)
			return -1;
	}
	return 0;
}

/*
 * Connects a non-blocking socket to path within the budget. The socket, or -1
 * with errno set and *stage naming the step that failed.
 */
static int recd_connect(const char *path, const struct timespec *start, const char **stage)
{
	*stage = "socket";
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	size_t pl = strlen(path);
	if (pl >= sizeof sa.sun_path) {
		close(fd);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, pl + 1);
	*stage = "connect";
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			return fd;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) { /* backlog full: retry briefly within the budget */
			if (ms_left(start) <= 0) {
				errno = ETIMEDOUT;
				break;
			}
			poll(NULL, 0, 5);
			continue;
		}
		if (errno != EINPROGRESS)
			break;
		int err = 0;
		socklen_t el = sizeof err;
		if (wait_fd(fd, POLLOUT, start) ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el))
			break;
		if (err) {
			errno = err;
			break;
		}
		return fd;
	}
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

/*
 * Sends one frame (body = type byte and JSON) and reads the answer's body into
 * reply (NUL-terminated). 0 on success; -1 with errno set and *stage naming
 * the step that failed.
 */
static int recd_exchange(const char *body, size_t n, char *reply, size_t cap, const char **stage)
{
	struct timespec start;
	if (clock_gettime(CLOCK_MONOTONIC, &start))
		return *stage = "clock", -1;
	int fd = -1;
	if (geteuid() == 0) {
		fd = recd_connect(RECD_ROOT_SOCKET_PATH, &start, stage);
		/* Not there, nobody listening, or not allowed: the public socket. */
		if (fd < 0 && errno != ENOENT && errno != ECONNREFUSED && errno != EACCES && errno != EPERM)
			return -1;
	}
	if (fd < 0)
		fd = recd_connect(RECD_SOCKET_PATH, &start, stage);
	if (fd < 0)
		return -1;
	*stage = "send";
	unsigned char hdr[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
				(unsigned char)(n >> 8), (unsigned char)n};
	struct {
		const char *p;
		size_t n;
	} parts[2] = {{(const char *)hdr, 4}, {body, n}};
	for (int i = 0; i < 2; i++) {
		const char *p = parts[i].p;
		size_t left = parts[i].n;
		while (left > 0) {
			ssize_t w = send(fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0) {
				p += w;
				left -= (size_t)w;
			} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (wait_fd(fd, POLLOUT, &start))
					goto fail;
			} else if (w < 0 && errno != EINTR)
				goto fail;
		}
	}
	*stage = "answer";
	if (recv_full(fd, (char *)hdr, 4, &start))
		goto fail;
	uint32_t rn = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (rn == 0 || rn >= cap) {
		errno = EMSGSIZE;
		goto fail;
	}
	if (recv_full(fd, reply, rn, &start))
		goto fail;
	reply[rn] = 0;
	close(fd);
	return 0;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

/*
 * Registers the opening or closing (op) of a recorded user's login with recd.
 * Best effort: never blocks for more than RECD_REG_BUDGET_MS, never fails the
 * login; problems are logged once per process.
 */
static void recd_register_session(pam_handle_t *pamh, const char *op, const char *user, int debug)
{
	struct jbuf b = {0};
	char num[32];
	jb_puts(&b, "J{\"op\":");
	jb_str(&b, op);
	jb_puts(&b, ",\"user\":");
	jb_str(&b, user);
	jb_puts(&b, ",\"service\":");
	jb_str(&b, pam_str(pamh, PAM_SERVICE));
	jb_puts(&b, ",\"tty\":");
	jb_str(&b, pam_str(pamh, PAM_TTY));
	jb_puts(&b, ",\"rhost\":");
	jb_str(&b, pam_str(pamh, PAM_RHOST));
	snprintf(num, sizeof num, ",\"pid\":%ld", (long)getpid());
	jb_puts(&b, num);
	snprintf(num, sizeof num, ",\"audit_session\":%lu}", audit_session());
	jb_puts(&b, num);
	if (b.bad) {
		recd_log_once(RECD_LOG_RECD, "pam_recd: %s of %s not registered with recd: the request is too large or memory ran out", op, user);
		free(b.p);
		return;
	}
	char reply[RECD_REPLY_MAX];
	const char *stage = "";
	if (recd_exchange(b.p, b.len, reply, sizeof reply, &stage)) {
		recd_log_once(RECD_LOG_RECD, "pam_recd: cannot register the %s of %s with recd at %s (%s: %s); the login goes on unregistered",
			      op, user, RECD_SOCKET_PATH, stage, strerror(errno));
	} else if (strncmp(reply, "J{\"ok\":true", 11) != 0) {
		/* Go encodes proto.Response with "ok" first. Show the answer, printable bytes only. */
		for (char *p = reply; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		recd_log_once(RECD_LOG_RECDREPLY, "pam_recd: recd refused the %s of %s: %.200s", op, user, reply + 1);
	} else if (debug)
		syslog(LOG_AUTHPRIV | LOG_DEBUG, "pam_recd: %s of %s registered with recd", op, user);
	free(b.p);
}

static int putenv_kv(pam_handle_t *pamh, const char *key, const char *val)
{
	size_t n = strlen(key) + 1 + strlen(val) + 1;
	char *kv = malloc(n);
	if (!kv)
		return -1;
	snprintf(kv, n, "%s=%s", key, val);
	int r = pam_putenv(pamh, kv);
	free(kv);
	return r == PAM_SUCCESS ? 0 : -1;
}

RECD_EXPORT PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
					       const char **argv)
{
	(void)flags;
	int debug = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "debug"))
			debug = 1;
		else
			recd_log_once(RECD_LOG_PAMOPT, "pam_recd: unknown option %s", argv[i]);
	}
	const void *item = NULL;
	if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || !item || !*(const char *)item) {
		recd_log_once(RECD_LOG_PAMUSER, "pam_recd: no PAM_USER; ignoring");
		return PAM_IGNORE;
	}
	const char *user = item;

	void *h = NULL;
	nss_real = NULL;
	if (dlopen && dlsym) {
		h = dlopen("libnss_recd.so.2", RTLD_NOW | RTLD_LOCAL);
		if (h)
			nss_real = (real_getpwnam_fn)dlsym(h, "_nss_recd_real_getpwnam_r");
	}

	int ret = PAM_IGNORE;
	size_t len = 4096;
	char *buf = NULL, *tlog = NULL;
	const char *why = "";
	struct passwd pw;
	int r;
	for (;;) {
		char *n = realloc(buf, len);
		if (!n) {
			recd_log_once(RECD_LOG_NOMEM, "pam_recd: out of memory");
			goto out;
		}
		buf = n;
		r = recd_lookup(user, 0, &pw, buf, len, 0, real_lookup, &tlog, &why);
		if (r != RECD_ERANGE || len >= (1u << 20))
			break;
		len *= 2;
	}
	if (debug)
		syslog(LOG_AUTHPRIV | LOG_DEBUG, "pam_recd: %s: %s", user, why);
	if (r != RECD_YES)
		goto out;
	const char *shell = pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh";
	if (putenv_kv(pamh, "TLOG_REC_SESSION_SHELL", shell) ||
	    (tlog && putenv_kv(pamh, "TLOG_REC_SESSION_CONF_TEXT", tlog))) {
		recd_log_once(RECD_LOG_PAM, "pam_recd: pam_putenv failed");
		goto out;
	}
	/* Mark the handle so that close_session registers the logout even if the
	 * policy changes in between; the data is a constant, nothing to free. */
	pam_set_data(pamh, RECD_DATA_KEY, (void *)RECD_DATA_KEY, NULL);
	recd_register_session(pamh, "session-open", user, debug);
	ret = PAM_SUCCESS;
out:
	nss_real = NULL;
	if (h && dlclose)
		dlclose(h);
	free(buf);
	free(tlog);
	return ret;
}

#define IGNORE_ENTRY(fn)                                                                       \
	RECD_EXPORT PAM_EXTERN int fn(pam_handle_t *pamh, int flags, int argc, const char **argv) \
	{                                                                                      \
		(void)pamh; (void)flags; (void)argc; (void)argv;                               \
		return PAM_IGNORE;                                                             \
	}

/* Registers the logout of a login that open_session registered (found by the
 * mark it left on the handle). Always PAM_IGNORE. */
RECD_EXPORT PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
						const char **argv)
{
	(void)flags;
	int debug = 0;
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "debug"))
			debug = 1;
	const void *mark = NULL, *item = NULL;
	if (pam_get_data(pamh, RECD_DATA_KEY, &mark) != PAM_SUCCESS || !mark)
		return PAM_IGNORE;
	if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || !item || !*(const char *)item)
		return PAM_IGNORE;
	recd_register_session(pamh, "session-close", item, debug);
	return PAM_IGNORE;
}

IGNORE_ENTRY(pam_sm_authenticate)
IGNORE_ENTRY(pam_sm_setcred)
IGNORE_ENTRY(pam_sm_acct_mgmt)
IGNORE_ENTRY(pam_sm_chauthtok)
