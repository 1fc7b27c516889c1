package testhost

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// root opens the host's root directory from outside. Files are then resolved with
// os.Root, which refuses to follow a symlink out of the host's tree: a plain
// /proc/PID/root/... path would resolve an absolute symlink against the machine's own
// root, and could write into the machine's files.
func (h *Host) root() (*os.Root, error) {
	if err := h.verify(); err != nil {
		return nil, err
	}
	return os.OpenRoot(fmt.Sprintf("/proc/%d/root", h.pid))
}

func rel(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("path %q is not absolute", p)
	}
	r := strings.TrimPrefix(filepath.Clean(p), "/")
	if r == "" {
		r = "."
	}
	return r, nil
}

// WriteFile writes data to the absolute path p inside the host (creating parent
// directories, mode 0755), owned by root. Use Chown to give it to a user.
func (h *Host) WriteFile(p string, data []byte, mode fs.FileMode) {
	h.t.Helper()
	if err := h.writeFile(p, data, mode); err != nil {
		h.t.Fatalf("testhost: writing %s on %s: %v", p, h.name, err)
	}
}

func (h *Host) writeFile(p string, data []byte, mode fs.FileMode) error {
	r, err := rel(p)
	if err != nil {
		return err
	}
	root, err := h.root()
	if err != nil {
		return err
	}
	defer root.Close()
	if d := filepath.Dir(r); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := root.WriteFile(r, data, mode); err != nil {
		return err
	}
	return root.Chmod(r, mode) // WriteFile's mode is filtered by umask and kept on existing files
}

// ReadFile returns the content of the absolute path p inside the host.
func (h *Host) ReadFile(p string) []byte {
	h.t.Helper()
	b, err := h.TryReadFile(p)
	if err != nil {
		h.t.Fatalf("testhost: reading %s on %s: %v", p, h.name, err)
	}
	return b
}

// TryReadFile is ReadFile returning the error (fs.ErrNotExist for a missing file).
func (h *Host) TryReadFile(p string) ([]byte, error) {
	r, err := rel(p)
	if err != nil {
		return nil, err
	}
	root, err := h.root()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(r)
}

// Exists reports whether the absolute path p exists inside the host (not following a
// final symlink).
func (h *Host) Exists(p string) bool {
	r, err := rel(p)
	if err != nil {
		return false
	}
	root, err := h.root()
	if err != nil {
		return false
	}
	defer root.Close()
	_, err = root.Lstat(r)
	return err == nil
}

// Chown changes the owner of path p inside the host to owner ("user" or "user:group"),
// resolving names with the host's own user database.
func (h *Host) Chown(p, owner string) {
	h.t.Helper()
	h.MustRun(h.t, "chown", owner, p)
}

// User is a user account created on a host.
type User struct {
	Name string
	UID  int
	GID  int
	Home string
}

type userConfig struct {
	shell    string
	uid      int
	group    string
	groups   []string
	password string
	noKey    bool
}

// UserOption configures AddUser.
type UserOption func(*userConfig)

// UserShell sets the login shell (default /bin/bash).
func UserShell(shell string) UserOption { return func(c *userConfig) { c.shell = shell } }

// UserUID sets the numeric user id.
func UserUID(uid int) UserOption { return func(c *userConfig) { c.uid = uid } }

// UserPrimaryGroup sets the primary group (name or gid; it must exist). By default
// useradd creates a group named after the user.
func UserPrimaryGroup(group string) UserOption { return func(c *userConfig) { c.group = group } }

// UserGroups adds the user to supplementary groups (they must exist).
func UserGroups(groups ...string) UserOption {
	return func(c *userConfig) { c.groups = append(c.groups, groups...) }
}

// UserPassword sets the user's password (sshd accepts it only with
// SSHDOptions.PasswordAuthentication).
func UserPassword(pw string) UserOption { return func(c *userConfig) { c.password = pw } }

// UserNoKey does not authorize the host's client key for the user.
func UserNoKey() UserOption { return func(c *userConfig) { c.noKey = true } }

// AddUser creates a user with a home directory (useradd -m) and, unless UserNoKey is
// given, authorizes the host's SSH client key for it.
func (h *Host) AddUser(name string, opts ...UserOption) User {
	h.t.Helper()
	cfg := userConfig{shell: "/bin/bash"}
	for _, o := range opts {
		o(&cfg)
	}
	args := []string{"-m", "-s", cfg.shell}
	if cfg.uid > 0 {
		args = append(args, "-u", strconv.Itoa(cfg.uid))
	}
	if cfg.group != "" {
		args = append(args, "-g", cfg.group)
	}
	if len(cfg.groups) > 0 {
		args = append(args, "-G", strings.Join(cfg.groups, ","))
	}
	h.MustRun(h.t, "useradd", append(args, name)...)
	if cfg.password != "" {
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		defer cancel()
		cmd := h.CommandContext(ctx, "chpasswd")
		cmd.Stdin = strings.NewReader(name + ":" + cfg.password + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			h.t.Fatalf("testhost: chpasswd for %s on %s: %v\n%s", name, h.name, err, out)
		}
	}
	u := h.LookupUser(name)
	if !cfg.noKey {
		h.AuthorizeKey(name)
	}
	return u
}

// LookupUser returns a user's passwd entry as the host's NSS sees it (getent passwd).
func (h *Host) LookupUser(name string) User {
	h.t.Helper()
	out := strings.TrimSpace(h.MustRun(h.t, "getent", "passwd", name))
	f := strings.Split(out, ":")
	if len(f) < 7 {
		h.t.Fatalf("testhost: odd passwd entry for %s: %q", name, out)
	}
	uid, _ := strconv.Atoi(f[2])
	gid, _ := strconv.Atoi(f[3])
	return User{Name: f[0], UID: uid, GID: gid, Home: f[5]}
}

// AddGroup creates a group (with the given gid when gid > 0) and adds members to it.
func (h *Host) AddGroup(name string, gid int, members ...string) {
	h.t.Helper()
	args := []string{}
	if gid > 0 {
		args = append(args, "-g", strconv.Itoa(gid))
	}
	h.MustRun(h.t, "groupadd", append(args, name)...)
	for _, m := range members {
		h.MustRun(h.t, "usermod", "-a", "-G", name, m)
	}
}

var installMu sync.Mutex // one make at a time: parallel tests share <repo>/build

// Install runs `make -C <repo> install PREFIX=/usr` inside the host, so recd, recctl,
// recd-session and the NSS and PAM modules land in the host's /usr and /etc overlays.
// The repository is found by walking up from the working directory to recd's go.mod.
func (h *Host) Install() {
	h.t.Helper()
	repo, err := RepoRoot()
	if err != nil {
		h.t.Fatalf("testhost: %v", err)
	}
	if _, err := h.TryReadFile(filepath.Join(repo, "go.mod")); err != nil {
		h.t.Fatalf("testhost: the repository %s is not visible inside the host: %v", repo, err)
	}
	installMu.Lock()
	defer installMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*h.timeout)
	defer cancel()
	cmd := h.CommandContext(ctx, "make", "-C", repo, "install", "PREFIX=/usr")
	cmd.Env = append(cmd.Env, goEnv()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("testhost: make install on %s: %v\n%s", h.name, err, out)
	}
	for _, p := range []string{"/usr/sbin/recd", "/usr/bin/recctl", "/usr/bin/recd-session",
		"/usr/lib/" + multiarch() + "/libnss_recd.so.2", "/usr/lib/" + multiarch() + "/security/pam_recd.so",
		"/etc/recd/recd.conf"} {
		if _, err := h.TryReadFile(p); err != nil {
			h.t.Fatalf("testhost: after make install, %s is missing on %s: %v\n%s", p, h.name, err, out)
		}
	}
}

// goEnv passes the Go toolchain to make inside the host, in case build/ is stale.
func goEnv() []string {
	var env []string
	path := innerPath
	if goBin, err := exec.LookPath("go"); err == nil {
		path = filepath.Dir(goBin) + ":" + path
	} else if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		path = "/usr/local/go/bin:" + path
	}
	env = append(env, "PATH="+path)
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func multiarch() string {
	if out, err := exec.Command("dpkg-architecture", "-qDEB_HOST_MULTIARCH").Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			return s
		}
	}
	if out, err := exec.Command("gcc", "-print-multiarch").Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			return s
		}
	}
	return "x86_64-linux-gnu"
}

// RepoRoot returns the root of the recd checkout: the nearest directory at or above
// the working directory whose go.mod declares module github.com/recd-dev/recd.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/recd-dev/recd\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of github.com/recd-dev/recd at or above the working directory")
		}
		dir = parent
	}
}

// RecdFirstInPasswd makes libnss_recd answer passwd lookups before files, as
// `recctl enable` does: "passwd: recd files", the host's own passwd line commented out.
func (h *Host) RecdFirstInPasswd() {
	nss := strings.Replace(string(h.ReadFile("/etc/nsswitch.conf")), "\npasswd:", "\n#passwd:", 1)
	h.WriteFile("/etc/nsswitch.conf", []byte("passwd: recd files\n"+nss), 0o644)
}

// AddPAMRecd appends pam_recd's session line to the PAM stack of each service
// (/etc/pam.d/SERVICE), as `recctl enable` wires sshd, su and the others.
func (h *Host) AddPAMRecd(services ...string) {
	for _, s := range services {
		p := "/etc/pam.d/" + s
		h.WriteFile(p, append(h.ReadFile(p), "\nsession optional pam_recd.so\n"...), 0o644)
	}
}
