package sysconf

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// copyTree copies the fixture tree src into a new temporary directory, keeping symbolic
// links as links and file modes, and returns the directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case fi.IsDir():
			return os.MkdirAll(out, 0o755)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, data, fi.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// snapshotTree maps every path under root (host view) to its content ("file:<data>"),
// link target ("link:<target>") or "dir", leaving out the paths under skip.
func snapshotTree(t *testing.T, root string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link:" + target
		case fi.IsDir():
			out[rel] = "dir"
		default:
			data, _ := os.ReadFile(p)
			out[rel] = fmt.Sprintf("file %o:%s", fi.Mode().Perm(), data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffTrees describes how two snapshots differ ("" if they are equal).
func diffTrees(a, b map[string]string) string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out strings.Builder
	for _, k := range keys {
		va, oka := a[k]
		vb, okb := b[k]
		switch {
		case !oka:
			fmt.Fprintf(&out, "added %s\n", k)
		case !okb:
			fmt.Fprintf(&out, "removed %s\n", k)
		case va != vb:
			fmt.Fprintf(&out, "changed %s:\n%s", k, UnifiedDiff("before", "after", []byte(va), []byte(vb)))
		}
	}
	return out.String()
}

// fakeHost stands in for the programs recctl runs: pam-auth-update, authselect and
// systemctl act on the fixture tree the way the real ones act on /etc.
type fakeHost struct {
	f     FS
	calls []string
	// checkFails makes `authselect check` report a modified configuration.
	checkFails bool
	// pauIgnores makes `pam-auth-update --enable` leave common-session alone, as it does
	// with locally modified files.
	pauIgnores bool
	// enabled and active are the answers of systemctl is-enabled / is-active.
	enabled, active bool
	// semodules is the output of semodule -l.
	semodules string
	stamp     int
}

func (h *fakeHost) run(env []string, name string, args ...string) (string, int, error) {
	line := strings.TrimSpace(strings.Join(append(append([]string{}, env...), append([]string{name}, args...)...), " "))
	h.calls = append(h.calls, line)
	switch {
	case name == "pam-auth-update" && len(args) == 2 && args[0] == "--enable" && args[1] == "recd":
		if h.pauIgnores {
			return "", 0, nil
		}
		return h.pau(true)
	case name == "pam-auth-update" && len(args) == 2 && args[0] == "--remove" && args[1] == "recd":
		return h.pau(false)
	case name == "authselect" && len(args) == 1 && args[0] == "check":
		if h.checkFails {
			return "[error] File [/etc/authselect/system-auth] was modified outside authselect.\nCurrent configuration is not valid. It was probably modified outside authselect.", 4, nil
		}
		return "Current configuration is valid.", 0, nil
	case name == "authselect" && len(args) >= 2 && args[0] == "select":
		return "", 0, h.authselectSelect(args[1], args[2:])
	case name == "authselect" && len(args) == 1 && args[0] == "apply-changes":
		profile, features, err := ReadAuthselect(h.f)
		if err != nil {
			return "", 1, nil
		}
		return "", 0, h.authselectSelect(profile, features)
	case name == "systemctl" && len(args) > 0 && args[0] == "is-enabled":
		ans, code := "disabled", 1
		if h.enabled {
			ans, code = "enabled", 0
		}
		return strings.Repeat(ans+"\n", len(args)-1), code, nil
	case name == "systemctl" && len(args) > 0 && args[0] == "is-active":
		ans, code := "inactive", 3
		if h.active {
			ans, code = "active", 0
		}
		return strings.Repeat(ans+"\n", len(args)-1), code, nil
	case name == "systemctl" && len(args) > 1 && args[0] == "enable":
		h.enabled = true
		if args[1] == "--now" {
			h.active = true
		}
		return "", 0, nil
	case name == "systemctl" && len(args) > 1 && args[0] == "start":
		h.active = true
		return "", 0, nil
	case name == "systemctl" && len(args) > 1 && args[0] == "disable":
		h.enabled = false
		return "", 0, nil
	case name == "semodule" && len(args) == 1 && args[0] == "-l":
		return h.semodules, 0, nil
	}
	return "", -1, fmt.Errorf("fake host: unexpected command %q", line)
}

const pauLine = "session\toptional\t\t\tpam_recd.so \n"

func (h *fakeHost) pau(enable bool) (string, int, error) {
	for _, p := range []string{"/etc/pam.d/common-session", "/etc/pam.d/common-session-noninteractive"} {
		st, err := h.f.State(p)
		if err != nil || st.Kind != File {
			return "", 1, err
		}
		text := string(st.Data)
		if enable && !strings.Contains(text, pauLine) {
			text = strings.Replace(text, "# end of pam-auth-update config", strings.TrimSuffix(pauLine, "\n")+"\n# end of pam-auth-update config", 1)
		} else if !enable {
			text = strings.Replace(text, pauLine, "", 1)
		}
		st.Data, st.SHA256 = []byte(text), Digest([]byte(text))
		if err := h.f.Put(p, st); err != nil {
			return "", 1, err
		}
	}
	return "", 0, nil
}

var (
	condRe   = regexp.MustCompile(`\s*\{(include|exclude) if "([^"]+)"\}\s*$`)
	ifNotRe  = regexp.MustCompile(`\{if not "([^"]+)":([^}]*)\}`)
	ifElseRe = regexp.MustCompile(`\{if "([^"]+)":([^}|]*)(\|[^}]*)?\}`)
)

// render processes an authselect template the way authselect does, closely enough for
// the tests: directives dropped, conditional lines kept or dropped, inline {if} replaced.
func render(tmpl string, features []string) string {
	on := map[string]bool{}
	for _, f := range features {
		on[f] = true
	}
	var out strings.Builder
	for _, line := range splitLines([]byte(tmpl)) {
		if strings.HasPrefix(strings.TrimSpace(line), "{") {
			continue
		}
		if m := condRe.FindStringSubmatchIndex(line); m != nil {
			kind, feat := line[m[2]:m[3]], line[m[4]:m[5]]
			if (kind == "include") != on[feat] {
				continue
			}
			line = line[:m[0]] + "\n"
		}
		line = ifNotRe.ReplaceAllStringFunc(line, func(s string) string {
			sm := ifNotRe.FindStringSubmatch(s)
			if on[sm[1]] {
				return ""
			}
			return sm[2]
		})
		line = ifElseRe.ReplaceAllStringFunc(line, func(s string) string {
			sm := ifElseRe.FindStringSubmatch(s)
			if on[sm[1]] {
				return sm[2]
			}
			return strings.TrimPrefix(sm[3], "|")
		})
		out.WriteString(line)
	}
	return out.String()
}

// authselectSelect writes what `authselect select PROFILE FEATURES` writes: authselect.conf,
// the generated files (stamped, as authselect does, with a header that changes every time)
// and the links from /etc/pam.d and /etc/nsswitch.conf.
func (h *fakeHost) authselectSelect(profile string, features []string) error {
	dir := profileDir(h.f, profile)
	if dir == "" {
		return fmt.Errorf("fake authselect: no profile %s", profile)
	}
	conf := profile + "\n"
	for _, f := range features {
		conf += f + "\n"
	}
	if err := h.f.Put(AuthselectConf, NewFile([]byte(conf), 0o644)); err != nil {
		return err
	}
	h.stamp++
	for _, name := range []string{"system-auth", "password-auth", "fingerprint-auth", "smartcard-auth", "postlogin", "nsswitch.conf", "dconf-db", "dconf-locks"} {
		data, err := h.f.ReadFile(path.Join(dir, name))
		if err != nil {
			return err
		}
		text := fmt.Sprintf("%s on fake-time-%d\n# Do not modify this file manually, use authselect instead.\n\n", generatedStamp, h.stamp) + render(string(data), features)
		if err := h.f.Put(path.Join(AuthselectDir, name), NewFile([]byte(text), 0o644)); err != nil {
			return err
		}
	}
	for _, name := range []string{"system-auth", "password-auth", "fingerprint-auth", "smartcard-auth", "postlogin"} {
		if err := h.f.Put(path.Join(PAMDir, name), FileState{Kind: Symlink, Target: path.Join(AuthselectDir, name)}); err != nil {
			return err
		}
	}
	return h.f.Put(NSSwitchPath, FileState{Kind: Symlink, Target: path.Join(AuthselectDir, "nsswitch.conf")})
}
