// Package activate turns the configuration on disk into the policy in force: it loads and
// validates /etc/recd/recd.conf (+ conf.d), checks the recorder, decides every local user
// with the policy engine and atomically replaces the snapshot that libnss_recd and pam_recd
// read. recd calls it on every change; recctl calls it when recd is not running. A failure
// at any step leaves the previous snapshot in place.
package activate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/policy"
	"github.com/recd-dev/recd/internal/snapshot"
)

// The user and group databases the compiled cache is built from (and recd watches).
const (
	PasswdPath = "/etc/passwd"
	GroupPath  = "/etc/group"
)

// Recorder paths for the named choices of [recorder] recorder.
const (
	BuiltinRecorder = "/usr/bin/recd-session"
	TlogRecorder    = "/usr/bin/tlog-rec-session"
)

// Options locate the inputs and the output; empty fields take the standard paths.
type Options struct {
	ConfigPath, DropinDir string
	SnapshotPath          string
	PasswdPath, GroupPath string
}

func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.ConfigPath, config.DefaultPath)
	def(&o.DropinDir, config.DefaultDropinDir)
	def(&o.SnapshotPath, snapshot.Path)
	def(&o.PasswdPath, PasswdPath)
	def(&o.GroupPath, GroupPath)
	return o
}

// Compile loads and validates the configuration and compiles the snapshot without
// writing it.
func (o Options) Compile() (*config.Config, *snapshot.Snapshot, error) {
	o = o.withDefaults()
	cfg, err := config.Load(o.ConfigPath, o.DropinDir)
	if err != nil {
		return nil, nil, err
	}
	rec, err := RecorderPath(&cfg.Recorder)
	if err != nil {
		return nil, nil, err
	}
	rules := snapshot.Rules{
		Scope:         cfg.Policy.Scope.String(),
		Users:         cfg.Policy.Users,
		Groups:        cfg.Policy.Groups,
		ExcludeUsers:  cfg.Policy.ExcludeUsers,
		ExcludeGroups: cfg.Policy.ExcludeGroups,
		Recorder:      rec,
	}
	if cfg.Recorder.Recorder == config.RecorderTlog {
		rules.TlogConfText = TlogConfText(&cfg.Recorder)
	}
	snap, err := snapshot.Compile(rules, snapshot.Options{
		PasswdPath: o.PasswdPath,
		GroupPath:  o.GroupPath,
		NewDecider: func(users []snapshot.Entry, groups []snapshot.Group) snapshot.Decider {
			dir := memoryDirectory(users, groups)
			return func(name string) (bool, error) {
				d, err := policy.Decide(&cfg.Policy, dir, name)
				return d.Record, err
			}
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("compiling the policy: %w", err)
	}
	return cfg, snap, nil
}

// memoryDirectory gives the policy engine the users and groups the snapshot compiler read,
// so that the decisions and the cached entries come from one reading of the files.
func memoryDirectory(entries []snapshot.Entry, groups []snapshot.Group) *policy.MemoryDirectory {
	users := make([]policy.User, 0, len(entries))
	for _, e := range entries {
		users = append(users, policy.User{Name: e.Name, UID: e.UID, GID: e.GID})
	}
	gs := make([]policy.Group, 0, len(groups))
	for _, g := range groups {
		gs = append(gs, policy.Group{Name: g.Name, GID: g.GID, Members: g.Members})
	}
	return policy.NewMemoryDirectory(users, gs)
}

// Activate compiles the configuration and, only if that succeeds, replaces the snapshot.
// It returns a one-line summary of the policy now in force.
func (o Options) Activate() (string, error) {
	o = o.withDefaults()
	_, snap, err := o.Compile()
	if err != nil {
		return "", err
	}
	if err := snapshot.Write(o.SnapshotPath, snap); err != nil {
		return "", fmt.Errorf("writing %s: %w", o.SnapshotPath, err)
	}
	return Summary(snap), nil
}

// Summary describes a snapshot in one line, e.g.
// "scope=some users=alice groups=wheel; recorder /usr/bin/recd-session; 3 users recorded".
func Summary(s *snapshot.Snapshot) string {
	r := s.Rules
	parts := []string{"scope=" + r.Scope}
	add := func(key string, v []string) {
		if len(v) > 0 {
			parts = append(parts, key+"="+strings.Join(v, ","))
		}
	}
	switch r.Scope {
	case snapshot.ScopeSome:
		add("users", r.Users)
		add("groups", r.Groups)
	case snapshot.ScopeAll:
		add("exclude_users", r.ExcludeUsers)
		add("exclude_groups", r.ExcludeGroups)
	}
	out := strings.Join(parts, " ") + "; recorder " + r.Recorder
	if s.Passwd != nil {
		out += fmt.Sprintf("; %d local users recorded", len(s.Recorded()))
	}
	return out
}

// RecorderPath resolves [recorder] recorder to an absolute path and checks that it is an
// executable regular file: a login must never be handed a shell that cannot start.
func RecorderPath(r *config.Recorder) (string, error) {
	path := r.Recorder
	switch path {
	case config.RecorderBuiltin, "":
		path = BuiltinRecorder
	case config.RecorderTlog:
		path = TlogRecorder
	}
	fail := func(why, hint string) error {
		return &config.Error{File: r.Sources["recorder"].File, Line: r.Sources["recorder"].Line,
			Section: "recorder", Key: "recorder", Msg: fmt.Sprintf("%s %s", path, why), Hint: hint}
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		hint := "install it, or set recorder = builtin | tlog | /absolute/path"
		if path == TlogRecorder {
			hint = "install the tlog package, or set recorder = builtin"
		}
		return "", fail("does not exist", hint)
	case err != nil:
		return "", fail(fmt.Sprintf("cannot be checked: %v", err), "")
	case !fi.Mode().IsRegular():
		return "", fail("is not a regular file", "")
	case fi.Mode().Perm()&0o111 == 0:
		return "", fail("is not executable", "chmod 0755 "+path)
	}
	return path, nil
}

// tlogConf is the part of tlog-rec-session's JSON configuration that [recorder] sets; the
// key names and nesting are tlog's (tlog-rec-session.conf(5)).
type tlogConf struct {
	Notice  string `json:"notice"`
	Latency int    `json:"latency"`
	Payload int    `json:"payload"`
	Log     struct {
		Input  bool `json:"input"`
		Output bool `json:"output"`
		Window bool `json:"window"`
	} `json:"log"`
	Limit struct {
		Rate   int64  `json:"rate"`
		Burst  int64  `json:"burst"`
		Action string `json:"action"`
	} `json:"limit"`
}

// TlogConfText renders the [recorder] settings tlog understands as the JSON that pam_recd
// exports in TLOG_REC_SESSION_CONF_TEXT, so that one file configures both recorders.
func TlogConfText(r *config.Recorder) string {
	var c tlogConf
	c.Notice = "\n" + r.Notice + "\n\n" // tlog prints the notice verbatim
	c.Latency, c.Payload = r.Latency, r.Payload
	c.Log.Input, c.Log.Output, c.Log.Window = r.LogInput, r.LogOutput, r.LogWindow
	c.Limit.Rate, c.Limit.Burst, c.Limit.Action = r.LimitRate, r.LimitBurst, string(r.LimitAction)
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("encoding a fixed struct: %v", err)) // cannot happen
	}
	return string(b)
}
