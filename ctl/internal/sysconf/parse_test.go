package sysconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNSSEnableDisable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"passwd:         files systemd\n", "passwd:         recd files systemd\n"},
		{"passwd: files\n", "passwd: recd files\n"},
		{"passwd:\tcompat\r\n", "passwd:\trecd compat\r\n"},
		{"passwd:files", "passwd:recd files"},
		{"passwd: files sss # local first\n", "passwd: recd files sss # local first\n"},
		{"passwd: files [NOTFOUND=return] ldap\n", "passwd: recd files [NOTFOUND=return] ldap\n"},
		{"# passwd: db files\npasswd: files\n", "# passwd: db files\npasswd: recd files\n"},
		// recd in the wrong place moves to the front.
		{"passwd: files systemd recd\n", "passwd: recd files systemd\n"},
		{"passwd: files recd [UNAVAIL=return] sss\n", "passwd: recd files sss\n"},
		{"passwd: recd files\n", "passwd: recd files\n"},
	}
	for _, tt := range tests {
		out, changed, err := NSSEnable([]byte(tt.in), "nsswitch.conf")
		if err != nil || string(out) != tt.want || changed != (tt.in != tt.want) {
			t.Errorf("NSSEnable(%q) = %q, %v, %v; want %q", tt.in, out, changed, err, tt.want)
		}
	}
	// Disable undoes enable byte for byte for every line enable starts from.
	for _, in := range []string{"passwd:         files systemd\n", "passwd:files", "passwd: files sss # c\n", "passwd:\tcompat\r\n"} {
		on, _, _ := NSSEnable([]byte(in), "x")
		off, changed := NSSDisable(on)
		if string(off) != in || !changed {
			t.Errorf("disable(enable(%q)) = %q", in, off)
		}
	}
	if _, changed := NSSDisable([]byte("passwd: files\n")); changed {
		t.Error("NSSDisable changed a file without recd")
	}
	if l, _ := PasswdLine([]byte("group: files\npasswd: recd files # x\n"), "x"); !l.RecdFirst() || l.Num != 2 {
		t.Errorf("PasswdLine: %+v", l)
	}
}

func TestPAMAddSessionAndStrip(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"spaces", "auth    required  pam_env.so\nsession optional  pam_keyinit.so revoke\nsession required  pam_unix.so\n",
			"auth    required  pam_env.so\nsession optional  pam_keyinit.so revoke\nsession required  pam_unix.so\nsession optional  pam_recd.so\n"},
		{"tabs", "session\t\trequired\tpam_unix.so\n# end\n", "session\t\trequired\tpam_unix.so\nsession\t\toptional\tpam_recd.so\n# end\n"},
		{"bracket control", "session [success=1 default=ignore] pam_succeed_if.so service in crond\n",
			"session [success=1 default=ignore] pam_succeed_if.so service in crond\nsession optional                   pam_recd.so\n"},
		{"no session rules", "auth include common-auth", "auth include common-auth\nsession optional pam_recd.so\n"},
		{"continued rule", "session required pam_unix.so \\\n    debug\nauth required pam_deny.so\n",
			"session required pam_unix.so \\\n    debug\nsession optional pam_recd.so\nauth required pam_deny.so\n"},
	}
	for _, tt := range tests {
		out, changed, err := PAMAddSession("f", []byte(tt.in), false)
		if err != nil || !changed || string(out) != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, out, err, tt.want)
			continue
		}
		back, ch := PAMStrip("f", out, false)
		orig := tt.in
		if !strings.HasSuffix(orig, "\n") {
			orig += "\n" // adding a line ends the last one
		}
		if !ch || string(back) != orig {
			t.Errorf("%s: strip gave %q", tt.name, back)
		}
		if again, ch, _ := PAMAddSession("f", out, false); ch || string(again) != string(out) {
			t.Errorf("%s: adding twice changed the file", tt.name)
		}
	}
	// A commented-out rule does not count.
	if _, changed, _ := PAMAddSession("f", []byte("#session optional pam_recd.so\n"), false); !changed {
		t.Error("a commented rule was taken for the real one")
	}
	// Templates: directives and conditions are not rules.
	tmpl := "{imply \"a\" if \"b\"}\nsession optional pam_sss.so {include if \"x\"}\n{continue if \"y\"}\n"
	rules, err := ParsePAM("t", []byte(tmpl), true)
	if err != nil || len(rules) != 1 || rules[0].Module != "pam_sss.so" || len(rules[0].Args) != 0 {
		t.Errorf("template parse: %+v, %v", rules, err)
	}
	if _, err := ParsePAM("t", []byte(tmpl), false); err == nil {
		t.Error("a template parsed as a plain PAM file")
	}
}

func TestPAMStack(t *testing.T) {
	f := FS{Root: filepath.Join("testdata", "debian12")}
	rules, err := f.PAMStack("sshd", "session")
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	for _, r := range rules {
		mods = append(mods, r.Module)
	}
	got := strings.Join(mods, " ")
	// common-session is pulled in by @include, in its place.
	if !strings.Contains(got, "pam_keyinit.so pam_permit.so pam_deny.so pam_permit.so pam_unix.so pam_systemd.so pam_motd.so") {
		t.Errorf("sshd session stack: %s", got)
	}
	f = FS{Root: filepath.Join("testdata", "el7")}
	rules, err = f.PAMStack("sudo-i", "session") // sudo-i → sudo → system-auth → system-auth-ac
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 || rules[len(rules)-1].Module != "pam_sss.so" || rules[len(rules)-1].File != "/etc/pam.d/system-auth" {
		t.Errorf("sudo-i stack ends with %+v", rules[len(rules)-1])
	}
	if _, err := f.PAMStack("nonexistent", "session"); err == nil {
		t.Error("a missing service gave no error")
	}
	root := t.TempDir()
	f = FS{Root: root}
	put(t, f, "/etc/pam.d/a", "session include b\n")
	put(t, f, "/etc/pam.d/b", "@include a\n")
	if _, err := f.PAMStack("a", "session"); err == nil || !strings.Contains(err.Error(), "includes itself") {
		t.Errorf("loop: %v", err)
	}
	put(t, f, "/etc/pam.d/c", "session substack missing\n")
	if _, err := f.PAMStack("c", "session"); err == nil || !strings.Contains(err.Error(), "includes /etc/pam.d/missing, which does not exist") {
		t.Errorf("missing include: %v", err)
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n"
	b := "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n12\n13\n"
	want := `--- a
+++ b
@@ -2,7 +2,7 @@
 2
 3
 4
-5
+five
 6
 7
 8
@@ -10,3 +10,4 @@
 10
 11
 12
+13
`
	if got := UnifiedDiff("a", "b", []byte(a), []byte(b)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := UnifiedDiff("a", "b", nil, []byte("x")); got != "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\n" {
		t.Errorf("new file: %q", got)
	}
	if UnifiedDiff("a", "b", []byte(a), []byte(a)) != "" {
		t.Error("equal inputs gave a diff")
	}
}

// TestFSStaysInRoot: links are followed inside the root, never out of it.
func TestFSStaysInRoot(t *testing.T) {
	root := t.TempDir()
	f := FS{Root: root}
	put(t, f, "/etc/real", "inside\n")
	link(t, f, "/etc/abs", "/etc/real")
	link(t, f, "/etc/up", "../../../../../../etc/real")
	link(t, f, "/etc/passwd", "/etc/passwd") // a loop, and the machine's /etc/passwd must not be read
	for _, p := range []string{"/etc/abs", "/etc/up"} {
		if data, err := f.ReadFile(p); err != nil || string(data) != "inside\n" {
			t.Errorf("%s: %q %v", p, data, err)
		}
	}
	if _, err := f.ReadFile("/etc/passwd"); err == nil {
		t.Error("a self-link was read")
	}
	// Put replaces the link itself, not its target.
	if err := f.Put("/etc/abs", NewFile([]byte("new\n"), 0o644)); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "etc/real")); string(data) != "inside\n" {
		t.Error("Put wrote through a link")
	}
}
