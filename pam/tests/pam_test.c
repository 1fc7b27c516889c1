/*
 * pam_test — runs pam_open_session with pam_recd.so through the real libpam
 * (pam_start_confdir, a test service directory) and checks the PAM
 * environment. Run by nss/tests/run.sh inside the test mount namespace.
 *
 *   pam_test CONFDIR USER SHELL|- [CONF_TEXT|-]
 * SHELL "-" means: TLOG_REC_SESSION_SHELL must be unset.
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <string.h>

static int conv(int n, const struct pam_message **m, struct pam_response **r, void *d)
{
	(void)n; (void)m; (void)r; (void)d;
	return PAM_CONV_ERR;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	struct pam_conv c = {conv, NULL};
	pam_handle_t *pamh;
	int r = pam_start_confdir("recd-test", argv[2], &c, argv[1], &pamh);
	if (r != PAM_SUCCESS) {
		fprintf(stderr, "pam_start_confdir: %d\n", r);
		return 1;
	}
	int bad = 0;
	r = pam_open_session(pamh, 0);
	if (r != PAM_SUCCESS) {
		fprintf(stderr, "FAIL: pam_open_session(%s): %s\n", argv[2], pam_strerror(pamh, r));
		bad = 1;
	}
	const char *sh = pam_getenv(pamh, "TLOG_REC_SESSION_SHELL");
	const char *want = strcmp(argv[3], "-") ? argv[3] : NULL;
	if ((sh == NULL) != (want == NULL) || (sh && strcmp(sh, want))) {
		fprintf(stderr, "FAIL: %s: TLOG_REC_SESSION_SHELL=%s, want %s\n", argv[2], sh ? sh : "(unset)",
			want ? want : "(unset)");
		bad = 1;
	}
	if (argc > 4) {
		const char *ct = pam_getenv(pamh, "TLOG_REC_SESSION_CONF_TEXT");
		const char *wct = strcmp(argv[4], "-") ? argv[4] : NULL;
		if ((ct == NULL) != (wct == NULL) || (ct && strcmp(ct, wct))) {
			fprintf(stderr, "FAIL: %s: TLOG_REC_SESSION_CONF_TEXT=%s, want %s\n", argv[2],
				ct ? ct : "(unset)", wct ? wct : "(unset)");
			bad = 1;
		}
	}
	/* the other entry points ignore */
	if (pam_close_session(pamh, 0) != PAM_SUCCESS)
		bad = 1;
	pam_end(pamh, PAM_SUCCESS);
	return bad;
}
