package sysconf

import (
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/expected from the results")

// setupHost copies a fixture tree and gives it a fake host. The el9 fixture holds the
// authselect profile sources; the generated files come from selecting the profile, as on
// a real host after `authselect select sssd with-mkhomedir`.
func setupHost(t *testing.T, name string) (FS, *fakeHost, Options) {
	t.Helper()
	root := copyTree(t, filepath.Join("testdata", name))
	f := FS{Root: root}
	h := &fakeHost{f: f}
	if name == "el9" {
		if err := h.authselectSelect("sssd", []string{"with-mkhomedir"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	o := Options{FS: f, Run: h.run, Now: func() time.Time { now = now.Add(time.Second); return now }}
	return f, h, o
}

func detect(t *testing.T, f FS) Distro {
	t.Helper()
	d, err := Detect(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkGolden compares what enable changed (every path whose state differs from before)
// with testdata/expected/NAME, which holds exactly those paths as they must be.
func checkGolden(t *testing.T, name string, before, after map[string]string) {
	t.Helper()
	got := map[string]string{}
	for k, v := range after {
		if before[k] != v && v != "dir" {
			// Files the fake authselect regenerated with nothing but a new stamp are its
			// business, not recctl's.
			_, b, _ := strings.Cut(before[k], ":")
			_, a, _ := strings.Cut(v, ":")
			if sameButStamp([]byte(a), []byte(b)) {
				continue
			}
			got[k] = v
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("enable removed %s", k)
		}
	}
	dir := filepath.Join("testdata", "expected", name)
	if *update {
		os.RemoveAll(dir)
		for k, v := range got {
			out := filepath.Join(dir, k)
			os.MkdirAll(filepath.Dir(out), 0o755)
			if target, ok := strings.CutPrefix(v, "link:"); ok {
				if err := os.Symlink(target, out); err != nil {
					t.Fatal(err)
				}
				continue
			}
			_, data, _ := strings.Cut(v, ":")
			if err := os.WriteFile(out, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := map[string]string{}
	for k, v := range snapshotTree(t, dir) {
		if v != "dir" {
			want[k] = v
		}
	}
	if d := diffTrees(want, got); d != "" {
		t.Errorf("enable on %s: the changed files differ from testdata/expected/%s (go test -update rewrites it):\n%s", name, name, d)
	}
}

var families = []struct {
	name   string
	family Family
	// render holds lines the dry-run output must contain.
	render []string
}{
	{"debian12", Debian, []string{
		"run: DEBIAN_FRONTEND=noninteractive pam-auth-update --enable recd",
		"-passwd:         files systemd", "+passwd:         recd files systemd"}},
	{"el7", EL7, []string{
		"--- /dev/null\n+++ b/etc/pam.d/system-auth-local", "+session     optional     pam_recd.so",
		"link /etc/pam.d/system-auth: -> system-auth-ac becomes -> system-auth-local",
		"-passwd:     files sss", "+passwd:     recd files sss"}},
	{"el7-local", EL7, []string{
		"--- a/etc/pam.d/system-auth-local", " session     include       system-auth-ac\n+session     optional      pam_recd.so"}},
	{"el9", EL, []string{
		"mkdir /etc/authselect/custom/recd",
		"--- /usr/share/authselect/default/sssd/system-auth\n+++ b/etc/authselect/custom/recd/system-auth",
		"+session     optional                                     pam_recd.so",
		"+passwd:     recd sss files systemd   {exclude if \"with-custom-passwd\"}",
		"run: authselect select custom/recd with-mkhomedir"}},
	{"el9-optout", EL, []string{"+session     optional                                     pam_recd.so", "+passwd:     recd sss files systemd"}},
}

// TestEnableDisable is the round trip on each family's fixture: the dry run changes nothing
// and shows the diff; enable changes exactly the expected files; enable twice = once;
// disable puts every byte back.
func TestEnableDisable(t *testing.T) {
	for _, tc := range families {
		t.Run(tc.name, func(t *testing.T) {
			f, h, o := setupHost(t, tc.name)
			d := detect(t, f)
			if d.Family != tc.family {
				t.Fatalf("detected %s, want family %s", d, tc.family)
			}
			orig := snapshotTree(t, f.Root)

			p, err := PlanEnable(o, d)
			if err != nil {
				t.Fatal(err)
			}
			text := p.Render(f)
			for _, want := range tc.render {
				if !strings.Contains(text, want) {
					t.Errorf("dry run does not show %q:\n%s", want, text)
				}
			}
			if diff := diffTrees(orig, snapshotTree(t, f.Root)); diff != "" {
				t.Fatalf("planning changed the tree:\n%s", diff)
			}

			rep, err := Execute(o, p)
			if err != nil {
				t.Fatal(err)
			}
			after := snapshotTree(t, f.Root, "/var")
			checkGolden(t, tc.name, orig, after)
			if rep.BackupDir == "" || !f.Exists(path.Join(rep.BackupDir, "manifest.json")) {
				t.Errorf("no backup manifest in %q", rep.BackupDir)
			}
			for _, c := range rep.Changed {
				if st, _ := f.State(path.Join(rep.BackupDir, "files", c)); st.Kind == Absent {
					if before, _ := f.State(c); before.Kind == File && orig[c] != "" {
						t.Errorf("%s changed but has no backup copy", c)
					}
				}
			}

			// Enable twice = once.
			h.calls = nil
			p2, err := PlanEnable(o, d)
			if err != nil {
				t.Fatal(err)
			}
			if !p2.Empty() {
				t.Fatalf("second enable plans changes:\n%s", p2.Render(f))
			}
			rep2, err := Execute(o, p2)
			if err != nil || rep2.BackupDir != "" {
				t.Fatalf("second enable: %v, backup %q", err, rep2.BackupDir)
			}
			if diff := diffTrees(after, snapshotTree(t, f.Root, "/var")); diff != "" {
				t.Fatalf("second enable changed the tree:\n%s", diff)
			}

			// Disable restores the originals byte for byte.
			pd, err := PlanDisable(o, d)
			if err != nil {
				t.Fatal(err)
			}
			drep, err := Execute(o, pd)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range drep.Notes {
				if strings.Contains(n, "differ") || strings.Contains(n, "changed after") {
					t.Errorf("disable note: %s", n)
				}
			}
			if diff := diffTrees(orig, snapshotTree(t, f.Root, "/var")); diff != "" {
				t.Fatalf("disable did not restore the originals:\n%s", diff)
			}
			if st, _ := LoadState(o); st != nil {
				t.Error("the enable state is still there after disable")
			}
			// And disable again finds nothing to do.
			pd2, err := PlanDisable(o, d)
			if err != nil || !pd2.Empty() {
				t.Fatalf("second disable: %v\n%s", err, pd2.Render(f))
			}
		})
	}
}

func TestEnableRefusals(t *testing.T) {
	tests := []struct {
		fixture string
		mutate  func(t *testing.T, f FS, h *fakeHost)
		want    string
	}{
		{"el7-regular", nil, "is a regular file, and authconfig replaces it with a link to system-auth-ac"},
		{"debian12", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, "/etc/nsswitch.conf.real", "passwd: files\n")
			link(t, f, NSSwitchPath, "nsswitch.conf.real")
		}, "is a symbolic link to nsswitch.conf.real"},
		{"debian12", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, NSSwitchPath, "# Ansible managed\npasswd: files\n")
		}, `says "# Ansible managed": a tool rewrites this file`},
		{"debian12", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, NSSwitchPath, "passwd: files\ngroup: files\npasswd: files systemd\n")
		}, "has 2 passwd lines (lines 1 and 3)"},
		{"debian12", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, NSSwitchPath, "group: files\n")
		}, "has no passwd line"},
		{"debian12", func(t *testing.T, f FS, h *fakeHost) { remove(t, f, DebianProfile) }, "profile /usr/share/pam-configs/recd is missing"},
		{"debian12", func(t *testing.T, f FS, h *fakeHost) {
			remove(t, f, "/usr/lib/x86_64-linux-gnu/security/pam_recd.so")
		}, "recd is not installed: no pam_recd.so"},
		{"debian12", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, "/etc/os-release", "ID=arch\nPRETTY_NAME=\"Arch Linux\"\n")
			remove(t, f, "/etc/debian_version")
		}, "does not know how Arch Linux (family unknown) wires PAM and NSS"},
		{"el7", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, "/etc/pam.d/system-auth-ac", "#%PAM-1.0\nsession optional\nbogus line here\n")
		}, "cannot parse"},
		{"el7", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, "/etc/pam.d/system-auth-local", "# mine\n")
		}, "/etc/pam.d/system-auth-local exists, but /etc/pam.d/system-auth points to system-auth-ac"},
		{"el7", func(t *testing.T, f FS, h *fakeHost) {
			link(t, f, "/etc/pam.d/password-auth", "/usr/share/pam/password-auth")
		}, "outside /etc/pam.d"},
		{"el7-local", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, "/etc/pam.d/password-auth-local", "#%PAM-1.0\nsesion include password-auth-ac\n")
		}, `"sesion" is not a PAM rule type`},
		{"el9", func(t *testing.T, f FS, h *fakeHost) { h.checkFails = true }, "authselect check says the current configuration was changed outside authselect"},
		{"el9", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, AuthselectConf, "sssd\nwith-custom-passwd\n")
		}, "the authselect feature with-custom-passwd is on"},
		{"el9", func(t *testing.T, f FS, h *fakeHost) {
			put(t, f, "/etc/authselect/custom/recd/README", "old\n")
		}, "/etc/authselect/custom/recd already exists"},
		{"el9-optout", func(t *testing.T, f FS, h *fakeHost) {
			link(t, f, "/etc/pam.d/system-auth", "/etc/authselect/system-auth")
		}, "no authselect profile is selected"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.fixture, i), func(t *testing.T) {
			f, h, o := setupHost(t, tt.fixture)
			if tt.mutate != nil {
				tt.mutate(t, f, h)
			}
			before := snapshotTree(t, f.Root)
			_, err := PlanEnable(o, detect(t, f))
			if err == nil || !IsRefusal(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a refusal containing %q", err, tt.want)
			}
			t.Log(err)
			if diff := diffTrees(before, snapshotTree(t, f.Root)); diff != "" {
				t.Fatalf("a refusal changed the tree:\n%s", diff)
			}
		})
	}
}

func put(t *testing.T, f FS, p, content string) {
	t.Helper()
	if _, err := f.MkdirAll(path.Dir(p)); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(p, NewFile([]byte(content), 0o644)); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, f FS, p, target string) {
	t.Helper()
	if err := f.Put(p, FileState{Kind: Symlink, Target: target}); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, f FS, p string) {
	t.Helper()
	if err := f.Put(p, FileState{Kind: Absent}); err != nil {
		t.Fatal(err)
	}
}

// TestEnableRollsBack: when a step fails, every file is put back as it was.
func TestEnableRollsBack(t *testing.T) {
	t.Run("pam-auth-update leaves common-session alone", func(t *testing.T) {
		f, h, o := setupHost(t, "debian12")
		h.pauIgnores = true
		before := snapshotTree(t, f.Root)
		p, err := PlanEnable(o, detect(t, f))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Execute(o, p)
		if err == nil || !strings.Contains(err.Error(), "pam-auth-update did not add pam_recd.so") ||
			!strings.Contains(err.Error(), "pam-auth-update --force --enable recd") || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("got %v", err)
		}
		if diff := diffTrees(before, snapshotTree(t, f.Root, "/var")); diff != "" {
			t.Fatalf("not rolled back:\n%s", diff)
		}
		if st, _ := LoadState(o); st != nil {
			t.Error("a failed enable left a state file")
		}
	})
	t.Run("authselect select fails after the profile was written", func(t *testing.T) {
		f, _, o := setupHost(t, "el9")
		before := snapshotTree(t, f.Root)
		p, err := PlanEnable(o, detect(t, f))
		if err != nil {
			t.Fatal(err)
		}
		o.Run = func(env []string, name string, args ...string) (string, int, error) {
			return "[error] Unable to activate profile [custom/recd] [5]: Input/output error", 1, nil
		}
		_, err = Execute(o, p)
		if err == nil || !strings.Contains(err.Error(), "authselect select custom/recd with-mkhomedir failed (exit status 1)") {
			t.Fatalf("got %v", err)
		}
		if diff := diffTrees(before, snapshotTree(t, f.Root, "/var")); diff != "" {
			t.Fatalf("not rolled back (the custom profile must be gone again):\n%s", diff)
		}
	})
}

// TestDisableAfterChanges: a file changed after enable is not put back from the backup;
// only recd's lines come out of it, and the administrator is told.
func TestDisableAfterChanges(t *testing.T) {
	f, _, o := setupHost(t, "el7")
	d := detect(t, f)
	p, err := PlanEnable(o, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(o, p); err != nil {
		t.Fatal(err)
	}
	local, _ := f.ReadFile("/etc/pam.d/system-auth-local")
	put(t, f, "/etc/pam.d/system-auth-local", string(local)+"session     required     pam_tty_audit.so enable=root\n")
	nss, _ := f.ReadFile(NSSwitchPath)
	put(t, f, NSSwitchPath, string(nss)+"# sudoers: files\n")

	pd, err := PlanDisable(o, d)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Execute(o, pd)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, want := range []string{
		"/etc/pam.d/system-auth stays a link to system-auth-local",
		"/etc/pam.d/system-auth-local changed after recctl enable",
		"/etc/nsswitch.conf changed after recctl enable",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if tgt, _ := f.Readlink("/etc/pam.d/system-auth"); tgt != "system-auth-local" {
		t.Errorf("system-auth -> %s", tgt)
	}
	got, _ := f.ReadFile("/etc/pam.d/system-auth-local")
	if strings.Contains(string(got), "pam_recd") || !strings.Contains(string(got), "pam_tty_audit.so enable=root") {
		t.Errorf("system-auth-local after disable:\n%s", got)
	}
	// password-auth was not touched since: back to authconfig's link, -local gone.
	if tgt, _ := f.Readlink("/etc/pam.d/password-auth"); tgt != "password-auth-ac" {
		t.Errorf("password-auth -> %s", tgt)
	}
	if f.Exists("/etc/pam.d/password-auth-local") {
		t.Error("password-auth-local left behind")
	}
	want := EL7NSS(t) + "# sudoers: files\n"
	if got, _ := f.ReadFile(NSSwitchPath); string(got) != want {
		t.Errorf("nsswitch.conf after disable:\n%s", UnifiedDiff("want", "got", []byte(want), got))
	}
}

// EL7NSS is the el7 fixture's nsswitch.conf.
func EL7NSS(t *testing.T) string {
	data, err := os.ReadFile("testdata/el7/etc/nsswitch.conf")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestDisableWithoutState: a host wired by hand gets only recd's lines taken out.
func TestDisableWithoutState(t *testing.T) {
	f, h, o := setupHost(t, "debian12")
	orig := snapshotTree(t, f.Root)
	nss, _ := f.ReadFile(NSSwitchPath)
	put(t, f, NSSwitchPath, strings.Replace(string(nss), "passwd:         files", "passwd:         recd files", 1))
	h.pau(true)
	pd, err := PlanDisable(o, detect(t, f))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Execute(o, pd)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "no record of an enable") {
		t.Errorf("notes: %v", rep.Notes)
	}
	if diff := diffTrees(orig, snapshotTree(t, f.Root, "/var")); diff != "" {
		t.Fatalf("not restored:\n%s", diff)
	}
}

// TestEnableStartsRecd: with systemd running and the units installed, enable runs
// systemctl enable --now, and disable takes back only what enable did.
func TestEnableStartsRecd(t *testing.T) {
	f, h, o := setupHost(t, "debian12")
	if _, err := f.MkdirAll("/run/systemd/system"); err != nil {
		t.Fatal(err)
	}
	put(t, f, "/usr/lib/systemd/system/recd.service", "[Service]\nExecStart=/usr/sbin/recd\n")
	d := detect(t, f)
	p, err := PlanEnable(o, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Render(f), "run: systemctl enable --now recd.socket recd.service") {
		t.Errorf("plan:\n%s", p.Render(f))
	}
	if _, err := Execute(o, p); err != nil {
		t.Fatal(err)
	}
	if !h.enabled || !h.active {
		t.Error("recd not started")
	}
	if p2, _ := PlanEnable(o, d); !p2.Empty() {
		t.Errorf("second enable: %s", p2.Render(f))
	}
	pd, err := PlanDisable(o, d)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Execute(o, pd)
	if err != nil {
		t.Fatal(err)
	}
	if h.enabled {
		t.Error("disable left recd enabled although enable had enabled it")
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "systemctl stop recd.socket recd.service") {
		t.Errorf("notes: %v", rep.Notes)
	}

	// CentOS 7: enable and start are two commands (no --now before systemd 220).
	f7, h7, o7 := setupHost(t, "el7")
	f7.MkdirAll("/run/systemd/system")
	put(t, f7, "/usr/lib/systemd/system/recd.service", "[Service]\n")
	p7, err := PlanEnable(o7, detect(t, f7))
	if err != nil {
		t.Fatal(err)
	}
	if r := p7.Render(f7); !strings.Contains(r, "run: systemctl enable recd.socket recd.service\n") ||
		!strings.Contains(r, "run: systemctl start recd.socket recd.service\n") {
		t.Errorf("EL7 plan:\n%s", r)
	}
	if _, err := Execute(o7, p7); err != nil || !h7.enabled || !h7.active {
		t.Fatalf("EL7: %v, enabled %v, active %v", err, h7.enabled, h7.active)
	}

	// Already enabled before: disable leaves it enabled.
	f2, h2, o2 := setupHost(t, "debian12")
	f2.MkdirAll("/run/systemd/system")
	put(t, f2, "/usr/lib/systemd/system/recd.service", "[Service]\n")
	h2.enabled = true
	p, _ = PlanEnable(o2, d)
	if _, err := Execute(o2, p); err != nil {
		t.Fatal(err)
	}
	pd, _ = PlanDisable(o2, d)
	if _, err := Execute(o2, pd); err != nil {
		t.Fatal(err)
	}
	if !h2.enabled {
		t.Error("disable disabled recd, which was enabled before recctl enable")
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		family  Family
		major   int
	}{{"debian12", Debian, 12}, {"el7", EL7, 7}, {"el9", EL, 9}} {
		f := FS{Root: filepath.Join("testdata", tc.fixture)}
		d := detect(t, f)
		if d.Family != tc.family || d.Major != tc.major {
			t.Errorf("%s: %+v", tc.fixture, d)
		}
	}
	// CentOS 7 without os-release: /etc/redhat-release decides.
	root := t.TempDir()
	f := FS{Root: root}
	put(t, f, "/etc/redhat-release", "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n")
	if d := detect(t, f); d.Family != EL7 {
		t.Errorf("redhat-release only: %+v", d)
	}
}

// TestEnableKeepsAProfileThatWiresRecd: an authselect profile of the administrator's that
// already runs pam_recd and puts recd first is left alone.
func TestEnableKeepsAProfileThatWiresRecd(t *testing.T) {
	f, h, o := setupHost(t, "el9")
	base := "/usr/share/authselect/default/sssd"
	entries, _ := f.ReadDir(base)
	for _, e := range entries {
		data, _ := f.ReadFile(path.Join(base, e.Name()))
		switch e.Name() {
		case "system-auth", "password-auth":
			data = append(data, "session optional pam_recd.so\n"...)
		case "nsswitch.conf":
			data, _, _ = NSSEnable(data, "x")
		}
		put(t, f, "/etc/authselect/custom/mine/"+e.Name(), string(data))
	}
	if err := h.authselectSelect("custom/mine", nil); err != nil {
		t.Fatal(err)
	}
	before := snapshotTree(t, f.Root)
	p, err := PlanEnable(o, detect(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || !strings.Contains(strings.Join(p.Notes, "\n"), "custom/mine already runs pam_recd") {
		t.Fatalf("plan: %s\nnotes: %v", p.Render(f), p.Notes)
	}
	if _, err := Execute(o, p); err != nil {
		t.Fatal(err)
	}
	if d := diffTrees(before, snapshotTree(t, f.Root)); d != "" {
		t.Fatalf("changed:\n%s", d)
	}
}
