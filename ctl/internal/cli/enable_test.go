package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtureRoot copies one of sysconf's fixture trees (ctl/internal/sysconf/testdata) into a
// temporary directory, keeping links, and returns it.
func fixtureRoot(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("..", "sysconf", "testdata", name)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			return os.Symlink(target, out)
		case fi.IsDir():
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// treeDigest renders every file and link under root (but /var) as one string, to compare
// trees.
func treeDigest(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, root)
		if rel == "/var" {
			return filepath.SkipDir
		}
		fi, _ := os.Lstat(p)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&b, "%s -> %s\n", rel, target)
		case fi.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "%s %o\n%s\n", rel, fi.Mode().Perm(), data)
		}
		return nil
	})
	return b.String()
}

// pauFake stands in for pam-auth-update on a fixture tree (as sysconf's tests do).
func pauFake(root string, calls *[]string) func(env []string, name string, args ...string) (string, int, error) {
	const line = "session\toptional\t\t\tpam_recd.so \n"
	return func(env []string, name string, args ...string) (string, int, error) {
		*calls = append(*calls, strings.Join(append([]string{name}, args...), " "))
		if name != "pam-auth-update" {
			return "", -1, fmt.Errorf("unexpected %s", name)
		}
		for _, f := range []string{"common-session", "common-session-noninteractive"} {
			p := filepath.Join(root, "etc/pam.d", f)
			data, _ := os.ReadFile(p)
			s := string(data)
			if args[0] == "--enable" {
				s = strings.Replace(s, "# end of pam-auth-update config", line+"# end of pam-auth-update config", 1)
			} else {
				s = strings.Replace(s, line, "", 1)
			}
			os.WriteFile(p, []byte(s), 0o644)
		}
		return "", 0, nil
	}
}

func TestEnableCommand(t *testing.T) {
	e := newEnv(t, "[session_recording]\nscope = none\n")
	root := fixtureRoot(t, "debian12")
	var calls []string
	e.app.Host = Host{Root: root, Run: pauFake(root, &calls), Now: func() time.Time { return time.Unix(1740830400, 0) }}
	orig := treeDigest(t, root)
	conf, _ := os.ReadFile(e.app.ConfigPath)

	// Dry run: the diff, the scope change, nothing written.
	if code := e.run("enable", "--dry-run", "--scope", "some"); code != ExitOK {
		t.Fatalf("dry run: %d\n%s%s", code, e.stdout, e.stderr)
	}
	for _, want := range []string{"Distribution: Debian GNU/Linux 12 (bookworm) (family debian)",
		"run: DEBIAN_FRONTEND=noninteractive pam-auth-update --enable recd",
		"-passwd:         files systemd\n+passwd:         recd files systemd", "-scope = none\n+scope = some"} {
		if !strings.Contains(e.stdout.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, e.stdout)
		}
	}
	if treeDigest(t, root) != orig || len(calls) != 0 {
		t.Fatalf("the dry run changed something (calls %v)", calls)
	}
	if now, _ := os.ReadFile(e.app.ConfigPath); string(now) != string(conf) {
		t.Fatal("the dry run changed recd.conf")
	}

	if code := e.run("enable", "--scope", "some"); code != ExitOK {
		t.Fatalf("enable: %d\n%s%s", code, e.stdout, e.stderr)
	}
	for _, want := range []string{"Changed:\n  /etc/pam.d/common-session\n", "  /etc/nsswitch.conf\n",
		"Backup of everything touched: /var/lib/recd/backup/20250301T120000Z-enable", "scope: none → some",
		"Note: systemd is not running here", "recd is wired in."} {
		if !strings.Contains(e.stdout.String(), want) {
			t.Errorf("enable output lacks %q:\n%s", want, e.stdout)
		}
	}
	if now, _ := os.ReadFile(e.app.ConfigPath); !strings.Contains(string(now), "scope = some") {
		t.Errorf("recd.conf after enable --scope some:\n%s", now)
	}
	enabled := treeDigest(t, root)

	if code := e.run("enable"); code != ExitOK || !strings.Contains(e.stdout.String(), "already wired") || treeDigest(t, root) != enabled {
		t.Fatalf("second enable: %d\n%s%s", code, e.stdout, e.stderr)
	}

	if code := e.run("disable", "--dry-run"); code != ExitOK || !strings.Contains(e.stdout.String(), "run: DEBIAN_FRONTEND=noninteractive pam-auth-update --remove recd") ||
		!strings.Contains(e.stdout.String(), "-passwd:         recd files systemd\n+passwd:         files systemd") {
		t.Fatalf("disable --dry-run: %d\n%s%s", code, e.stdout, e.stderr)
	}
	if code := e.run("disable"); code != ExitOK || !strings.Contains(e.stdout.String(), "recd is unwired") {
		t.Fatalf("disable: %d\n%s%s", code, e.stdout, e.stderr)
	}
	if treeDigest(t, root) != orig {
		t.Fatal("disable did not restore the fixture byte for byte")
	}
	if code := e.run("disable"); code != ExitOK || !strings.Contains(e.stdout.String(), "nothing to change") {
		t.Fatalf("second disable: %d\n%s%s", code, e.stdout, e.stderr)
	}
}

func TestEnableRefusedAndErrors(t *testing.T) {
	e := newEnv(t, "")
	root := fixtureRoot(t, "el7-regular")
	e.app.Host.Root = root
	orig := treeDigest(t, root)
	if code := e.run("enable"); code != ExitNegative || !strings.Contains(e.stderr.String(), "recctl: enable: refused: /etc/pam.d/system-auth is a regular file") ||
		!strings.Contains(e.stderr.String(), "Nothing was changed.") {
		t.Fatalf("refusal: %d\n%s%s", code, e.stdout, e.stderr)
	}
	if treeDigest(t, root) != orig {
		t.Fatal("a refusal changed the tree")
	}
	if code := e.run("enable", "--scope", "most"); code != ExitUsage || !strings.Contains(e.stderr.String(), `invalid scope "most"`) {
		t.Fatalf("bad scope: %d %s", code, e.stderr)
	}
	if code := e.run("enable", "now"); code != ExitUsage {
		t.Fatalf("extra argument: %d", code)
	}
	os.WriteFile(e.app.ConfigPath, []byte("[session_recording]\nscop = all\n"), 0o644)
	if code := e.run("enable"); code != ExitUsage || !strings.Contains(e.stderr.String(), "does not validate") {
		t.Fatalf("broken recd.conf: %d %s", code, e.stderr)
	}
	e.app.UID = 1000
	for _, cmd := range []string{"enable", "disable", "doctor"} {
		if code := e.run(cmd); code != ExitNotRoot {
			t.Errorf("%s as uid 1000: %d", cmd, code)
		}
	}
}

// TestEnableCentOS7 runs the EL7 round trip through the command: -local files and links,
// no program run at all.
func TestEnableCentOS7(t *testing.T) {
	e := newEnv(t, "")
	root := fixtureRoot(t, "el7")
	e.app.Host.Root = root
	orig := treeDigest(t, root)
	if code := e.run("enable"); code != ExitOK {
		t.Fatalf("enable: %d\n%s%s", code, e.stdout, e.stderr)
	}
	if !strings.Contains(e.stdout.String(), "Note: authconfig rewrites the passwd line of /etc/nsswitch.conf") {
		t.Errorf("no authconfig note:\n%s", e.stdout)
	}
	if target, _ := os.Readlink(filepath.Join(root, "etc/pam.d/password-auth")); target != "password-auth-local" {
		t.Errorf("password-auth -> %s", target)
	}
	if code := e.run("disable"); code != ExitOK {
		t.Fatalf("disable: %d\n%s%s", code, e.stdout, e.stderr)
	}
	if treeDigest(t, root) != orig {
		t.Fatal("disable did not restore the fixture")
	}
}
