package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recd-dev/recd/tests/testhost"
)

// packageMu serializes the package builds: both run make -C selinux.
var packageMu sync.Mutex

// buildPackage runs `make TARGET` in the checkout (outside any test host: it writes only
// under build/ and selinux/) and returns the path the build script printed after
// "LABEL: ". It skips when a tool is missing.
func buildPackage(t *testing.T, target, label string, tools ...string) string {
	t.Helper()
	for _, tool := range append(tools, "make") {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps installs it); skipping", tool)
		}
	}
	if _, err := os.Stat("/usr/share/selinux/devel/Makefile"); err != nil {
		t.Skip("selinux-policy-dev not installed (make deps installs it; the packages hold the SELinux module); skipping")
	}
	repo, err := testhost.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	packageMu.Lock()
	defer packageMu.Unlock()
	cmd := exec.Command("make", "-C", repo, "--no-print-directory", target)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/local/go/bin")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, out)
	}
	m := regexp.MustCompile(`(?m)^` + label + `: (\S+)$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("make %s named no package:\n%s", target, out)
	}
	return string(m[1])
}

func buildDeb(t *testing.T) string {
	return buildPackage(t, "deb", "build-deb", "dpkg", "dpkg-deb")
}

// `make rpm` builds the EL package from the one spec: its files are root's, none SUID or
// SGID, the configuration is %config, and every scriptlet is valid sh.
func TestPackageRPM(t *testing.T) {
	t.Parallel()
	rpm := buildPackage(t, "rpm", "build-rpm", "rpmbuild", "rpm")
	q := func(args ...string) string {
		out, err := exec.Command("rpm", append([]string{"-qp", "--nosignature"}, append(args, rpm)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm -qp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	files := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(q("-lv")), "\n") {
		f := strings.Fields(l)
		if len(f) < 9 || f[2] != "root" || f[3] != "root" || strings.ContainsAny(f[0], "sStT") {
			t.Errorf("rpm entry not a plain root-owned file: %s", l)
			continue
		}
		files[f[8]] = f[0]
	}
	for p, mode := range map[string]string{
		"/usr/sbin/recd": "-rwxr-xr-x", "/usr/bin/recctl": "-rwxr-xr-x", "/usr/bin/recd-session": "-rwxr-xr-x",
		"/usr/lib64/libnss_recd.so.2": "-rw-r--r--", "/usr/lib64/security/pam_recd.so": "-rw-r--r--",
		"/usr/lib/systemd/system/recd.service": "-rw-r--r--", "/usr/lib/systemd/system/recd.socket": "-rw-r--r--",
		"/usr/lib/tmpfiles.d/recd.conf":                  "-rw-r--r--",
		"/usr/share/dbus-1/system.d/dev.recd.Recd1.conf": "-rw-r--r--",
		"/usr/share/selinux/packages/targeted/recd.pp":   "-rw-r--r--",
		"/etc/recd/recd.conf":                            "-rw-r--r--",
		"/var/lib/recd":                                  "drwxr-xr-x",
	} {
		if files[p] != mode {
			t.Errorf("%s: %q in the rpm, want %q", p, files[p], mode)
		}
	}
	if _, ok := files["/usr/share/pam-configs/recd"]; ok {
		t.Error("the rpm holds Debian's pam-auth-update profile")
	}
	if c := strings.TrimSpace(q("-c")); c != "/etc/recd/recd.conf" {
		t.Errorf("configuration files: %q, want /etc/recd/recd.conf", c)
	}
	// Every scriptlet parses as sh.
	scripts := regexp.MustCompile(`(?m)^(\w+) scriptlet \(using /bin/sh\):\n`).Split(q("--scripts"), -1)
	if len(scripts) < 4 {
		t.Fatalf("scriptlets: %d, want post, preun and postun", len(scripts)-1)
	}
	for i, sc := range scripts[1:] {
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(sc)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("scriptlet %d does not parse: %v\n%s\n%s", i+1, err, out, sc)
		}
	}
}

// wiring reads what enabling and disabling recd touch: every file of /etc/pam.d and
// /etc/nsswitch.conf.
func wiring(t *testing.T, h *testhost.Host) map[string]string {
	t.Helper()
	files := map[string]string{"/etc/nsswitch.conf": string(h.ReadFile("/etc/nsswitch.conf"))}
	for _, name := range strings.Fields(h.Shell(`cd /etc/pam.d && for f in *; do [ -f "$f" ] && printf '%s\n' "$f"; done; true`)) {
		files["/etc/pam.d/"+name] = string(h.ReadFile("/etc/pam.d/" + name))
	}
	return files
}

func diffWiring(before, after map[string]string) []string {
	var diffs []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			diffs = append(diffs, p+": removed")
		case a != b:
			diffs = append(diffs, p+": changed:\n--- before\n"+b+"--- after\n"+a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, p+": added")
		}
	}
	sort.Strings(diffs)
	return diffs
}

// The .deb installs on a test host with its files in place, root-owned, with their
// modes and no SUID or SGID bit; with recd wired in (what `recctl enable` does on
// Debian: the pam-auth-update profile and `recd` first for passwd) its removal restores
// /etc/pam.d and /etc/nsswitch.conf byte for byte; purge removes the state.
func TestPackageDeb(t *testing.T) {
	t.Parallel()
	deb := buildDeb(t)

	// The archive: no SUID/SGID, everything root's.
	listing, err := exec.Command("dpkg-deb", "-c", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v\n%s", err, listing)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(listing)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || strings.ContainsAny(f[0], "sStT") || f[1] != "root/root" {
			t.Errorf("package entry not a plain root-owned file: %s", l)
		}
	}

	h := testhost.New(t)
	h.StartJournald()
	h.AddUser("alice", testhost.UserShell("/bin/bash"))
	before := wiring(t, h)
	h.MustRun(t, "dpkg", "-i", deb)
	if out := h.MustRun(t, "dpkg-query", "-W", "-f", "${Status}", "recd"); out != "install ok installed" {
		t.Fatalf("dpkg-query: %q", out)
	}
	if diffs := diffWiring(before, wiring(t, h)); len(diffs) > 0 {
		t.Errorf("installing changed PAM or NSS configuration (enabling is recctl enable's job):\n%s", strings.Join(diffs, "\n"))
	}

	ma := multiarchDir(t, h)
	want := map[string]string{
		"/usr/sbin/recd":                                  "755 root:root regular file",
		"/usr/bin/recctl":                                 "755 root:root regular file",
		"/usr/bin/recd-session":                           "755 root:root regular file",
		"/usr/libexec/recd/recd-pam-test":                 "755 root:root regular file",
		ma + "/libnss_recd.so.2":                          "644 root:root regular file",
		ma + "/security/pam_recd.so":                      "644 root:root regular file",
		"/usr/lib/systemd/system/recd.service":            "644 root:root regular file",
		"/usr/lib/systemd/system/recd.socket":             "644 root:root regular file",
		"/usr/lib/tmpfiles.d/recd.conf":                   "644 root:root regular file",
		"/usr/share/dbus-1/system.d/dev.recd.Recd1.conf":  "644 root:root regular file",
		"/usr/share/dbus-1/interfaces/dev.recd.Recd1.xml": "644 root:root regular file",
		"/usr/share/pam-configs/recd":                     "644 root:root regular file",
		"/usr/share/selinux/default/recd.pp":              "644 root:root regular file",
		"/etc/recd/recd.conf":                             "644 root:root regular file",
		"/etc/recd/conf.d":                                "755 root:root directory",
		"/var/lib/recd":                                   "755 root:root directory",
		"/run/recd":                                       "755 root:root directory",
	}
	for p, w := range want {
		out, err := h.Run("stat", "-c", "%a %U:%G %F", p)
		if got := strings.TrimSpace(string(out)); err != nil || got != w {
			t.Errorf("%s: %q, want %q (%v)", p, got, w, err)
		}
	}
	// Nothing the package installed is SUID or SGID.
	if out := h.Shell(`dpkg -L recd | while read -r f; do if [ -f "$f" ] && [ ! -L "$f" ]; then find "$f" -perm /6000; fi; done`); strings.TrimSpace(out) != "" {
		t.Errorf("SUID/SGID files installed:\n%s", out)
	}
	// The installed programs run, and the default policy records nobody.
	if out := h.MustRun(t, "recctl", "policy"); !strings.Contains(out, "scope = none") {
		t.Errorf("recctl policy after installation:\n%s", out)
	}
	if out, err := h.Run("recctl", "reload"); err != nil || !strings.Contains(string(out), "Policy activated") {
		t.Errorf("recctl reload: %v\n%s", err, out)
	}

	// Wire recd in, as `recctl enable` does on Debian/Ubuntu.
	h.MustRun(t, "pam-auth-update", "--package", "--enable", "recd")
	h.Shell(`sed -i -E 's/^(passwd:[[:space:]]+)/\1recd /' /etc/nsswitch.conf`)
	wired := wiring(t, h)
	if !strings.Contains(wired["/etc/pam.d/common-session"], "pam_recd.so") ||
		!regexp.MustCompile(`(?m)^passwd:\s+recd `).MatchString(wired["/etc/nsswitch.conf"]) {
		t.Fatalf("wiring recd in did not work:\n%s\n%s", wired["/etc/pam.d/common-session"], wired["/etc/nsswitch.conf"])
	}
	if out := h.MustRun(t, "getent", "passwd", "root"); !strings.HasPrefix(out, "root:") {
		t.Fatalf("getent passwd root with recd wired in: %q", out)
	}

	// The packaged recd records a session (no systemd in the test host: recd by hand).
	h.MustRun(t, "recctl", "scope", "some")
	h.MustRun(t, "recctl", "users", "add", "alice")
	recd := h.Start("recd", "/usr/sbin/recd")
	waitUntil(t, 10*time.Second, "the packaged recd answers", func() bool {
		_, err := h.Run("recctl", "status")
		return err == nil
	})
	h.StartSSHD(testhost.SSHDOptions{})
	s := h.SSHInteractive("alice")
	if err := s.Expect("$ ", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Send("echo packaged-$((7*6))\r")
	if err := s.Expect("packaged-42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Send("exit\r")
	if _, err := s.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	recs := recordingsOf(t, h, "alice")
	if len(recs) != 1 {
		t.Fatalf("the packaged recd made %d recordings of alice's session, want 1", len(recs))
	}
	waitClosed(t, h, recs[0], 15*time.Second)
	if out := h.MustRun(t, "recctl", "play", "--raw", recs[0]); !strings.Contains(out, "packaged-42") {
		t.Errorf("recctl play of the packaged recording lacks the output:\n%s", out)
	}
	recd.Stop()

	// Removal unwires it: PAM and nsswitch.conf as before installation, byte for byte.
	h.MustRun(t, "dpkg", "--remove", "recd")
	if diffs := diffWiring(before, wiring(t, h)); len(diffs) > 0 {
		t.Errorf("after dpkg --remove, PAM and NSS configuration differ from before installation:\n%s", strings.Join(diffs, "\n"))
	}
	for _, p := range []string{"/usr/sbin/recd", "/usr/bin/recctl", ma + "/libnss_recd.so.2", ma + "/security/pam_recd.so",
		"/usr/share/pam-configs/recd", "/usr/lib/systemd/system/recd.service"} {
		if h.Exists(p) {
			t.Errorf("%s is still there after dpkg --remove", p)
		}
	}
	if !h.Exists("/etc/recd/recd.conf") {
		t.Error("dpkg --remove removed the configuration (only purge should)")
	}

	h.MustRun(t, "dpkg", "--purge", "recd")
	for _, p := range []string{"/etc/recd", "/var/lib/recd", "/run/recd"} {
		if h.Exists(p) {
			t.Errorf("%s is still there after dpkg --purge", p)
		}
	}
	if out, err := h.Run("dpkg-query", "-W", "-f", "${Status}", "recd"); err == nil && strings.Contains(string(out), "installed") {
		t.Errorf("dpkg-query after purge: %s", out)
	}
}

// multiarchDir is the host's library directory (/usr/lib/x86_64-linux-gnu on amd64).
func multiarchDir(t *testing.T, h *testhost.Host) string {
	t.Helper()
	ma := strings.TrimSpace(h.MustRun(t, "dpkg-architecture", "-qDEB_HOST_MULTIARCH"))
	return filepath.Join("/usr/lib", ma)
}
