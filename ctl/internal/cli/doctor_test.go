package cli

import (
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recd-dev/recd/ctl/internal/sysconf"
	"github.com/recd-dev/recd/internal/proto"
)

// fakeRecd answers status requests on sock as recd does.
func fakeRecd(t *testing.T, sock string) {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var req proto.Request
				if proto.ReadJSON(c, &req) == nil {
					proto.WriteJSON(c, proto.Response{OK: true, Status: &proto.Status{PID: 4242, Started: "2025-03-01T12:00:00Z"}})
				}
			}()
		}
	}()
}

type doctorHost struct {
	*env
	root  string
	calls []string
	// semodules is what semodule -l prints.
	semodules string
}

func (h *doctorHost) write(p, content string, mode os.FileMode) {
	full := filepath.Join(h.root, p)
	os.MkdirAll(filepath.Dir(full), 0o755)
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		panic(err)
	}
	os.Chmod(full, mode)
}

func (h *doctorHost) read(p string) string {
	data, _ := os.ReadFile(filepath.Join(h.root, p))
	return string(data)
}

func (h *doctorHost) edit(p, old, new string) {
	h.write(p, strings.Replace(h.read(p), old, new, 1), 0o644)
}

// cleanDebian is the debian12 fixture with everything doctor looks for in order: recd
// wired in, installed and running, a persistent journal, 4 GiB for the journal.
func cleanDebian(t *testing.T, conf string) *doctorHost {
	t.Helper()
	h := &doctorHost{env: newEnv(t, conf), root: fixtureRoot(t, "debian12")}
	h.edit("/etc/nsswitch.conf", "passwd:         files", "passwd:         recd files")
	h.edit("/etc/pam.d/common-session", "# end of pam-auth-update", "session\toptional\t\t\tpam_recd.so \n# end of pam-auth-update")
	h.write("/usr/bin/recd-session", "#!/bin/sh\n", 0o755)
	os.MkdirAll(filepath.Join(h.root, "var/log/journal"), 0o755)
	h.app.SocketPath = filepath.Join(t.TempDir(), "recd.sock")
	fakeRecd(t, h.app.SocketPath)
	h.app.Host = Host{Root: h.root,
		Run: func(env []string, name string, args ...string) (string, int, error) {
			h.calls = append(h.calls, name+" "+strings.Join(args, " "))
			if name == "semodule" {
				return h.semodules, 0, nil
			}
			return "", 1, nil
		},
		FreeBytes: func(string) (uint64, error) { return 50 << 30, nil }}
	return h
}

func (h *doctorHost) doctor(t *testing.T) (int, string) {
	t.Helper()
	code := h.run("doctor")
	if h.stderr.Len() > 0 {
		t.Errorf("doctor wrote to stderr: %s", h.stderr)
	}
	return code, h.stdout.String()
}

func TestDoctorClean(t *testing.T) {
	h := cleanDebian(t, "")
	code, out := h.doctor(t)
	if code != ExitOK || !strings.Contains(out, "No problems found.") || strings.Contains(out, "[PROBLEM]") {
		t.Fatalf("clean host: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"[ok]      nsswitch: recd is the first passwd source (/etc/nsswitch.conf:7)",
		"[ok]      pam: pam_recd.so in the session stacks of sshd, login, su, su-l (not installed here: sudo-i)",
		"[ok]      recd: recd answers on", "(pid 4242",
		"[ok]      journal: persistent",
		"[ok]      rate limit: journald lets recd.service write 40000 messages per 30s",
		"[skipped] selinux: SELinux is not enabled",
		"[skipped] locale: only EL hosts",
		"[skipped] tlog: recorder = builtin",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDoctorFindings triggers each finding with a change of the clean fixture and checks
// its headline and its fix.
func TestDoctorFindings(t *testing.T) {
	tests := []struct {
		name   string
		conf   string
		mutate func(h *doctorHost)
		want   []string // the headline, then parts of the fix
	}{
		{"nsswitch not first", "", func(h *doctorHost) {
			h.edit("/etc/nsswitch.conf", "passwd:         recd files systemd", "passwd:         files recd systemd")
		}, []string{`[PROBLEM] nsswitch: recd is not the first passwd source (/etc/nsswitch.conf:7: "passwd:         files recd systemd")`,
			`"files" answers for its users with their real shell`, `fix: recctl enable   (it puts recd first: "passwd: recd files systemd")`}},
		{"nsswitch without recd", "", func(h *doctorHost) {
			h.edit("/etc/nsswitch.conf", "recd files", "files")
		}, []string{"[PROBLEM] nsswitch: recd is not a passwd source", "nobody is recorded", "fix: recctl enable"}},
		{"pam line missing", "", func(h *doctorHost) {
			h.edit("/etc/pam.d/common-session", "session\toptional\t\t\tpam_recd.so \n", "")
		}, []string{"[PROBLEM] pam: pam_recd.so is not in the session stack of sshd, login, su, su-l",
			"TLOG_REC_SESSION_SHELL", "fix: recctl enable", "for s in sshd login su su-l; do echo 'session optional pam_recd.so' >> /etc/pam.d/$s; done"}},
		{"pam include broken", "", func(h *doctorHost) {
			h.write("/etc/pam.d/sshd", "@include common-sesion\n", 0o644)
		}, []string{"[PROBLEM] pam: the PAM configuration of sshd is broken: /etc/pam.d/sshd:1 includes /etc/pam.d/common-sesion, which does not exist"}},
		{"module missing", "", func(h *doctorHost) {
			os.Remove(filepath.Join(h.root, "usr/lib/x86_64-linux-gnu/libnss_recd.so.2"))
		}, []string{"[PROBLEM] modules: libnss_recd.so.2 not installed", "fix: install recd"}},
		{"recorder missing", "", func(h *doctorHost) {
			os.Remove(filepath.Join(h.root, "usr/bin/recd-session"))
		}, []string{"[PROBLEM] recorder: /usr/bin/recd-session does not exist (recorder = builtin)", "their logins fail", "fix: reinstall recd"}},
		{"recorder not executable", "[recorder]\nrecorder = /opt/rec/bin/rec\n", func(h *doctorHost) {
			h.write("/opt/rec/bin/rec", "x", 0o644)
		}, []string{"[PROBLEM] recorder: /opt/rec/bin/rec is not executable", "fix: chmod 0755 /opt/rec/bin/rec"}},
		{"tlog not installed", "[recorder]\nrecorder = tlog\n", nil,
			[]string{"[PROBLEM] recorder: /usr/bin/tlog-rec-session does not exist (recorder = tlog)", "fix: apt-get install tlog, or set recorder = builtin"}},
		{"recd not running", "", func(h *doctorHost) {
			h.app.SocketPath = filepath.Join(h.dir, "none.sock")
		}, []string{"[PROBLEM] recd: recd is not running: its socket", "a recorded user's session runs unrecorded (on_unavailable = allow)",
			"fix: start /usr/sbin/recd"}},
		{"recd not running under systemd", "[recorder]\non_unavailable = deny\n", func(h *doctorHost) {
			h.app.SocketPath = filepath.Join(h.dir, "none.sock")
			os.MkdirAll(filepath.Join(h.root, "run/systemd/system"), 0o755)
		}, []string{"[PROBLEM] recd: recd is not running", "a recorded user's login is refused (on_unavailable = deny)",
			"fix: systemctl enable --now recd.socket recd.service"}},
		{"socket dead", "", func(h *doctorHost) {
			sock := filepath.Join(h.dir, "dead.sock")
			l, _ := net.Listen("unix", sock)
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			l.Close()
			h.app.SocketPath = sock
		}, []string{"[PROBLEM] recd: recd does not answer on", "fix: start /usr/sbin/recd"}},
		{"journal volatile", "", func(h *doctorHost) {
			h.write("/etc/systemd/journald.conf.d/10-ram.conf", "[Journal]\nStorage=volatile\n", 0o644)
		}, []string{"[PROBLEM] journal: journald keeps no journal on disk: Storage=volatile (/etc/systemd/journald.conf.d/10-ram.conf:2)",
			"lost at every reboot", `fix: mkdir -p /etc/systemd/journald.conf.d && printf '[Journal]\nStorage=persistent\n' > /etc/systemd/journald.conf.d/zz-recd-storage.conf && systemctl restart systemd-journald`}},
		{"journal not persistent", "", func(h *doctorHost) {
			os.RemoveAll(filepath.Join(h.root, "var/log/journal"))
		}, []string{"[PROBLEM] journal: /var/log/journal does not exist and Storage=auto (the default)",
			"fix: mkdir -p /var/log/journal && systemd-tmpfiles --create --prefix /var/log/journal && systemctl restart systemd-journald"}},
		{"rate limit", "", func(h *doctorHost) {
			h.write("/etc/systemd/journald.conf", "[Journal]\n#RateLimitBurst=10000\nRateLimitBurst=1000\nRateLimitIntervalSec=30s\n", 0o644)
		}, []string{"[PROBLEM] rate limit: journald lets recd.service write 4000 messages per 30s (RateLimitBurst 1000 from /etc/systemd/journald.conf:3",
			"makes about 489 recording messages per second (payload = 2048 bytes)", "Suppressed N messages",
			`fix: mkdir -p /etc/systemd/system/recd.service.d && printf '[Service]\nLogRateLimitIntervalSec=0\n'`}},
		{"selinux module missing", "", func(h *doctorHost) {
			h.write("/sys/fs/selinux/enforce", "1", 0o644)
			h.semodules = "abrt\t1.4.1\napache\t2.8.0\n"
		}, []string{"[PROBLEM] selinux: SELinux is enforcing and the recd policy module is not loaded",
			"fix: semodule -i /usr/share/selinux/default/recd.pp && restorecon -R"}},
		{"tlog lock dir and SUID", "[recorder]\nrecorder = tlog\n", func(h *doctorHost) {
			h.write("/usr/bin/tlog-rec-session", "x", 0o755)
			h.write("/etc/passwd", "root:x:0:0::/root:/bin/bash\n_tlog:x:998:998::/var/lib/tlog:/usr/sbin/nologin\n", 0o644)
		}, []string{"[PROBLEM] tlog: tlog's lock directory /run/tlog does not exist", "fix: systemd-tmpfiles --create /usr/lib/tmpfiles.d/tlog.conf",
			"[PROBLEM] tlog: /usr/bin/tlog-rec-session is not SUID to _tlog",
			"fix: dpkg-statoverride --update --add _tlog _tlog 6755 /usr/bin/tlog-rec-session",
			"set recorder = builtin in [recorder]", "recd-session needs none of this"}},
		{"configuration broken", "[session_recording]\nscope = sometimes\n", nil,
			[]string{"[PROBLEM] configuration: the configuration does not validate:", "fix: correct the file:line named above, then: recctl reload"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := cleanDebian(t, tt.conf)
			if tt.mutate != nil {
				tt.mutate(h)
			}
			code, out := h.doctor(t)
			if code != ExitNegative {
				t.Errorf("exit %d, want 1", code)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestDoctorRateLimitOK(t *testing.T) {
	// recd's own unit lifts the limit (systemd 240 and later).
	h := cleanDebian(t, "")
	h.write("/etc/systemd/journald.conf", "[Journal]\nRateLimitBurst=1000\n", 0o644)
	h.write("/usr/lib/systemd/system/recd.service.d/log.conf", "[Service]\nLogRateLimitIntervalSec=0\n", 0o644)
	if code, out := h.doctor(t); code != ExitOK || !strings.Contains(out, "journald does not rate-limit recd.service") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// The recorder's own limit keeps the message rate down.
	h = cleanDebian(t, "[recorder]\nlimit_rate = 65536\nlimit_action = drop\n")
	h.write("/etc/systemd/journald.conf", "[Journal]\nRateLimitBurst=1000\n", 0o644)
	if code, out := h.doctor(t); code != ExitOK || !strings.Contains(out, "limit_rate = 65536 bytes/s (limit_action = drop) needs about 32/s") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestDoctorSELinuxLoaded(t *testing.T) {
	h := cleanDebian(t, "")
	h.write("/sys/fs/selinux/enforce", "1\n", 0o644)
	h.semodules = "abrt\t1.4.1\nrecd\t1.0.0\n"
	if code, out := h.doctor(t); code != ExitOK || !strings.Contains(out, "[ok]      selinux: SELinux is enforcing and the recd module is loaded") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestDoctorTlogOK(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to the tlog user")
	}
	h := cleanDebian(t, "[recorder]\nrecorder = tlog\n")
	h.write("/etc/passwd", "root:x:0:0::/root:/bin/bash\n_tlog:x:998:998::/var/lib/tlog:/usr/sbin/nologin\n", 0o644)
	bin := filepath.Join(h.root, "usr/bin/tlog-rec-session")
	h.write("/usr/bin/tlog-rec-session", "x", 0o755)
	os.Chown(bin, 998, 998)
	os.Chmod(bin, 0o755|os.ModeSetuid|os.ModeSetgid)
	lock := filepath.Join(h.root, "run/tlog")
	os.MkdirAll(lock, 0o755)
	os.Chown(lock, 998, 998)
	code, out := h.doctor(t)
	if code != ExitOK || !strings.Contains(out, "[ok]      tlog: /run/tlog owned by _tlog, /usr/bin/tlog-rec-session SUID _tlog") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestDoctorLocale: on EL with recorder = tlog, PAM must read /etc/locale.conf and the locale
// must be UTF-8.
func TestDoctorLocale(t *testing.T) {
	e := newEnv(t, "[recorder]\nrecorder = tlog\n")
	root := fixtureRoot(t, "el7")
	e.app.Host.Root = root
	env := e.app.newDoctorEnv(mustHost(t, e.app), mustDetect(t, root))
	h := &doctorHost{env: e, root: root}
	h.write("/etc/locale.conf", "LANG=\"en_US.iso88591\"\n", 0o644)
	found, _ := checkLocale.fn(env)
	text := findingsText(found)
	for _, want := range []string{"the system locale is not UTF-8 (/etc/locale.conf: en_US.iso88591)", "localectl set-locale LANG=en_US.UTF-8",
		"no pam_env rule reads /etc/locale.conf for sshd, login, su-l", "tlog-rec-session starts before that shell",
		"for s in sshd login su-l; do echo 'session required pam_env.so readenv=1 envfile=/etc/locale.conf' >> /etc/pam.d/$s; done"} {
		if !strings.Contains(text, want) {
			t.Errorf("locale findings lack %q:\n%s", want, text)
		}
	}
	h.write("/etc/locale.conf", "LANG=\"en_US.UTF-8\"\n", 0o644)
	for _, s := range []string{"sshd", "login", "su-l"} {
		h.write("/etc/pam.d/"+s, h.read("/etc/pam.d/"+s)+"session required pam_env.so readenv=1 envfile=/etc/locale.conf\n", 0o644)
	}
	if found, ok := checkLocale.fn(env); len(found) != 0 || !strings.Contains(ok, "UTF-8 locale (en_US.UTF-8)") {
		t.Errorf("after the fix: %s / %s", findingsText(found), ok)
	}
	// The builtin recorder does not care.
	env.cfg.Recorder.Recorder = "builtin"
	if found, ok := checkLocale.fn(env); len(found) != 0 || !strings.HasPrefix(ok, "skip: ") {
		t.Errorf("builtin: %v %s", found, ok)
	}
}

// TestDoctorCentOS7RateLimit: systemd 219's default burst (1000) drops recordings at 1 MB/s,
// and the fix is journald-wide (no per-unit limit in 219).
func TestDoctorCentOS7RateLimit(t *testing.T) {
	e := newEnv(t, "")
	root := fixtureRoot(t, "el7")
	e.app.Host = Host{Root: root, FreeBytes: func(string) (uint64, error) { return 50 << 30, nil }}
	env := e.app.newDoctorEnv(mustHost(t, e.app), mustDetect(t, root))
	found, _ := checkRateLimit.fn(env)
	text := findingsText(found)
	if !strings.Contains(text, "write 4000 messages per 30s (RateLimitBurst 1000 from default") ||
		!strings.Contains(text, `printf '[Journal]\nRateLimitBurst=0\n' > /etc/systemd/journald.conf.d/zz-recd-ratelimit.conf`) {
		t.Errorf("EL7 rate limit: %s", text)
	}
	// The journal on /run only (CentOS 7's default): found, with the fix.
	found, _ = checkJournal.fn(env)
	if text := findingsText(found); !strings.Contains(text, "CentOS 7's default setup") {
		t.Errorf("EL7 journal: %s", text)
	}
	// nsswitch on EL7 warns about authconfig.
	found, _ = checkNSS.fn(env)
	if text := findingsText(found); !strings.Contains(text, "authconfig rewrites this line") {
		t.Errorf("EL7 nsswitch: %s", text)
	}
}

func mustHost(t *testing.T, a *App) sysconf.Options {
	t.Helper()
	o, err := a.host(newFlagSetWithRoot())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func newFlagSetWithRoot() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	hostFlags(fs)
	return fs
}

func mustDetect(t *testing.T, root string) sysconf.Distro {
	t.Helper()
	d, err := sysconf.Detect(sysconf.FS{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func findingsText(fs []finding) string {
	var b strings.Builder
	for _, f := range fs {
		f.print(&b)
	}
	return b.String()
}
