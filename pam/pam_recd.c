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
 * Every other entry point returns PAM_IGNORE. Errors never fail a login: they
 * give PAM_IGNORE and one syslog line. Option: debug (log decisions).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

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

/*
 * HOOK: register the login with the recd daemon (best effort, never blocks a
 * login for long, never fails it). The protocol is not defined yet; this is
 * where it goes. Called after the environment is set, only for recorded users.
 */
static void recd_register_session(pam_handle_t *pamh, const char *user, int debug)
{
	(void)pamh;
	if (debug)
		syslog(LOG_AUTHPRIV | LOG_DEBUG, "pam_recd: register %s: not implemented yet", user);
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
	recd_register_session(pamh, user, debug);
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

IGNORE_ENTRY(pam_sm_close_session)
IGNORE_ENTRY(pam_sm_authenticate)
IGNORE_ENTRY(pam_sm_setcred)
IGNORE_ENTRY(pam_sm_acct_mgmt)
IGNORE_ENTRY(pam_sm_chauthtok)
