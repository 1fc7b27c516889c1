/*
 * nss_test — exercises libnss_recd.so.2 through the real glibc NSS
 * (getpwnam_r/getpwuid_r with "passwd: recd files"). Links nothing of recd.
 * Run by nss/tests/run.sh inside a private mount namespace where /etc/passwd,
 * /etc/group, /etc/nsswitch.conf and /var/lib/recd are test copies.
 *
 *   nss_test expect RECORDER user=R|own ...   each user by name and by uid
 *   nss_test erange RECORDER user             tiny buffers: ERANGE; getpwnam works
 *   nss_test stress RECORDER THREADS ITERS user=R|own ...
 *   nss_test fork RECORDER ITERS user=R|own ...
 *   nss_test live RECORDER SNAPTOOL           in-process change detection
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <stdint.h>
#include <unistd.h>

static const char *recorder;
static int failures;

#define FAIL(...) do { fprintf(stderr, "FAIL: " __VA_ARGS__); fputc('\n', stderr); failures++; } while (0)

struct want {
	char name[64];
	uid_t uid;
	char shell[256]; /* expected shell */
};

/* The user's entry in /etc/passwd (the files source), read without NSS. */
static int file_entry(const char *name, uid_t *uid, char *shell, size_t n)
{
	FILE *f = fopen("/etc/passwd", "r");
	if (!f)
		return -1;
	struct passwd *p;
	int found = -1;
	while ((p = fgetpwent(f)))
		if (!strcmp(p->pw_name, name)) {
			*uid = p->pw_uid;
			snprintf(shell, n, "%s", p->pw_shell);
			found = 0;
			break;
		}
	fclose(f);
	return found;
}

static int parse_wants(int argc, char **argv, struct want *w)
{
	int n = 0;
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq) {
			fprintf(stderr, "bad spec %s\n", argv[i]);
			exit(2);
		}
		snprintf(w[n].name, sizeof w[n].name, "%.*s", (int)(eq - argv[i]), argv[i]);
		char own[256];
		if (file_entry(w[n].name, &w[n].uid, own, sizeof own)) {
			fprintf(stderr, "%s not in /etc/passwd\n", w[n].name);
			exit(2);
		}
		snprintf(w[n].shell, sizeof w[n].shell, "%s", !strcmp(eq + 1, "R") ? recorder : own);
		n++;
	}
	return n;
}

/* One check; returns 0 if fine. With a small buffer, ERANGE is fine. */
static int check(const struct want *w, int byuid, size_t buflen, int quiet)
{
	char *buf = malloc(buflen ? buflen : 1);
	struct passwd pw, *res = NULL;
	int r = byuid ? getpwuid_r(w->uid, &pw, buf, buflen, &res)
		      : getpwnam_r(w->name, &pw, buf, buflen, &res);
	int bad = 0;
	if (r == ERANGE && buflen < 4096) {
		/* fine */
	} else if (r || !res) {
		if (!quiet)
			FAIL("%s %s: r=%d res=%p", byuid ? "getpwuid_r" : "getpwnam_r", w->name, r, (void *)res);
		bad = 1;
	} else if (strcmp(pw.pw_name, w->name) || pw.pw_uid != w->uid || strcmp(pw.pw_shell, w->shell)) {
		if (!quiet)
			FAIL("%s %s: got %s uid %u shell %s, want shell %s", byuid ? "getpwuid_r" : "getpwnam_r",
			     w->name, pw.pw_name, (unsigned)pw.pw_uid, pw.pw_shell, w->shell);
		bad = 1;
	}
	free(buf);
	return bad;
}

static int cmd_expect(int argc, char **argv)
{
	struct want w[64];
	int n = parse_wants(argc, argv, w);
	for (int i = 0; i < n; i++) {
		check(&w[i], 0, 4096, 0);
		check(&w[i], 1, 4096, 0);
	}
	/* a user nobody knows: NOTFOUND from everyone, no error */
	struct passwd pw, *res = (void *)1;
	char buf[1024];
	int r = getpwnam_r("no-such-user-recd", &pw, buf, sizeof buf, &res);
	if (r || res)
		FAIL("unknown user: r=%d res=%p", r, (void *)res);
	r = getpwuid_r(4000000000u, &pw, buf, sizeof buf, &res);
	if (r || res)
		FAIL("unknown uid: r=%d res=%p", r, (void *)res);
	return failures;
}

static int cmd_erange(int argc, char **argv)
{
	struct want w[4];
	int n = parse_wants(argc, argv, w);
	for (int i = 0; i < n; i++) {
		for (size_t len = 0; len < 8; len++) {
			char buf[8];
			struct passwd pw, *res = NULL;
			int r = getpwnam_r(w[i].name, &pw, buf, len, &res);
			if (r != ERANGE || res)
				FAIL("getpwnam_r(%s, len %zu): r=%d, want ERANGE", w[i].name, len, r);
			r = getpwuid_r(w[i].uid, &pw, buf, len, &res);
			if (r != ERANGE || res)
				FAIL("getpwuid_r(%u, len %zu): r=%d, want ERANGE", (unsigned)w[i].uid, len, r);
		}
		/* glibc's non-reentrant calls retry with growing buffers */
		struct passwd *p = getpwnam(w[i].name);
		if (!p || strcmp(p->pw_shell, w[i].shell))
			FAIL("getpwnam(%s): %s", w[i].name, p ? p->pw_shell : "NULL");
		p = getpwuid(w[i].uid);
		if (!p || strcmp(p->pw_shell, w[i].shell))
			FAIL("getpwuid(%u): %s", (unsigned)w[i].uid, p ? p->pw_shell : "NULL");
		/* exact size boundaries: every size either ERANGE or right */
		for (size_t len = 1; len < 200; len++)
			if (check(&w[i], 0, len, 0) || check(&w[i], 1, len, 0))
				break;
	}
	return failures;
}

static struct want sw[64];
static int nsw, iters;
static volatile int stress_bad;

static void *stress_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
	for (int i = 0; i < iters; i++) {
		const struct want *w = &sw[rand_r(&seed) % nsw];
		size_t len = (rand_r(&seed) % 4) ? 16 + rand_r(&seed) % 200 : 1024;
		if (check(w, rand_r(&seed) & 1, len, 0))
			__atomic_fetch_add(&stress_bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int cmd_stress(int argc, char **argv)
{
	int threads = atoi(argv[0]);
	iters = atoi(argv[1]);
	nsw = parse_wants(argc - 2, argv + 2, sw);
	pthread_t t[256];
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, stress_thread, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	if (stress_bad)
		FAIL("stress: %d bad results", stress_bad);
	return failures;
}

static volatile int stop;
static void *busy_thread(void *arg)
{
	(void)arg;
	unsigned seed = 7;
	while (!stop)
		check(&sw[rand_r(&seed) % nsw], rand_r(&seed) & 1, 1024, 1);
	return NULL;
}

static int cmd_fork(int argc, char **argv)
{
	int n = atoi(argv[0]);
	nsw = parse_wants(argc - 1, argv + 1, sw);
	pthread_t bt;
	pthread_create(&bt, NULL, busy_thread, NULL); /* holds recd's lock at random times */
	for (int i = 0; i < n; i++) {
		check(&sw[i % nsw], 0, 1024, 0);
		pid_t pid = fork();
		if (pid == 0) {
			alarm(5);
			int bad = 0;
			for (int j = 0; j < nsw; j++)
				bad |= check(&sw[j], j & 1, 1024, 0);
			_exit(bad);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			FAIL("fork iteration %d: child status 0x%x%s", i, st,
			     WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (hung)" : "");
			break;
		}
	}
	stop = 1;
	pthread_join(bt, NULL);
	return failures;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Polls until user's shell is want (or 2 s pass); returns the seconds taken. */
static double wait_for(const char *name, const char *want)
{
	double t0 = now();
	char buf[1024];
	do {
		struct passwd pw, *res = NULL;
		if (!getpwnam_r(name, &pw, buf, sizeof buf, &res) && res && !strcmp(pw.pw_shell, want))
			return now() - t0;
		usleep(10000);
	} while (now() - t0 < 2.0);
	return -1;
}

static int run(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void write_file(const char *path, const char *text)
{
	/* in place: /etc/group here is a bind mount, which cannot be renamed over */
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f)) {
		FAIL("write %s", path);
	}
}

static char *read_file(const char *path)
{
	static char data[65536];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(data, 1, sizeof data - 1, f) : 0;
	data[n] = 0;
	if (f)
		fclose(f);
	return data;
}

/* Expects the test passwd/group of run.sh: eve is in passwd, not in group rec. */
static int cmd_live(int argc, char **argv)
{
	if (argc < 1)
		return 2;
	const char *tool = argv[0];
	char *snap_some[] = {(char *)tool, "-out", "/var/lib/recd/policy", "-scope", "some",
			     "-groups", "rec", "-recorder", (char *)recorder, NULL};
	char *snap_users[] = {(char *)tool, "-out", "/var/lib/recd/policy", "-scope", "some",
			      "-users", "eve", "-recorder", (char *)recorder, NULL};
	if (run(snap_some))
		FAIL("recd-snapshot failed");
	uid_t uid;
	char own[256];
	file_entry("eve", &uid, own, sizeof own);
	double t = wait_for("eve", own);
	if (t < 0)
		FAIL("eve should not be recorded yet");
	/* add eve to group rec, in place; the snapshot stays as it is */
	char *g = strdup(read_file("/etc/group")), *p = strstr(g, "\nrec:");
	if (!p)
		FAIL("no group rec");
	char *eol = strchr(p + 1, '\n');
	size_t head = (size_t)(eol - g);
	char *ng = malloc(strlen(g) + 16);
	sprintf(ng, "%.*s%seve%s", (int)head, g, eol[-1] == ':' ? "" : ",", eol);
	write_file("/etc/group", ng);
	t = wait_for("eve", recorder);
	if (t < 0 || t > 1.0)
		FAIL("group change not reflected within 1 s (%.3f s)", t);
	else
		printf("live: /etc/group change reflected in %.3f s\n", t);
	write_file("/etc/group", g); /* back */
	t = wait_for("eve", own);
	if (t < 0 || t > 1.0)
		FAIL("group change back not reflected within 1 s (%.3f s)", t);
	/* recompile with eve listed by name: the policy change shows at once */
	if (run(snap_users))
		FAIL("recd-snapshot failed");
	t = wait_for("eve", recorder);
	if (t < 0 || t > 1.0)
		FAIL("policy change not reflected within 1 s (%.3f s)", t);
	else
		printf("live: policy change reflected in %.3f s\n", t);
	/* policy removed: nobody recorded */
	unlink("/var/lib/recd/policy");
	t = wait_for("eve", own);
	if (t < 0 || t > 1.0)
		FAIL("policy removal not reflected within 1 s (%.3f s)", t);
	free(g);
	free(ng);
	return failures;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: nss_test expect|erange|stress|fork|live RECORDER ...\n");
		return 2;
	}
	recorder = argv[2];
	int r;
	if (!strcmp(argv[1], "expect"))
		r = cmd_expect(argc - 3, argv + 3);
	else if (!strcmp(argv[1], "erange"))
		r = cmd_erange(argc - 3, argv + 3);
	else if (!strcmp(argv[1], "stress"))
		r = cmd_stress(argc - 3, argv + 3);
	else if (!strcmp(argv[1], "fork"))
		r = cmd_fork(argc - 3, argv + 3);
	else if (!strcmp(argv[1], "live"))
		r = cmd_live(argc - 3, argv + 3);
	else
		return 2;
	if (r)
		fprintf(stderr, "nss_test %s: %d failure(s)\n", argv[1], failures);
	return r ? 1 : 0;
}
