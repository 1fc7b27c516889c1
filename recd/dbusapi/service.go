package dbusapi

import (
	"fmt"
	"log"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/recd-dev/recd/internal/confedit"
	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/policy"
)

// Options configure the API.
type Options struct {
	// Backend is the running daemon.
	Backend Backend
	// ConfigPath and DropinDir are the configuration recd activates (and the editing
	// methods change); empty means /etc/recd/recd.conf and /etc/recd/conf.d.
	ConfigPath, DropinDir string
	// Directory is the user and group database used to decide who is an auditor
	// (default: /etc/passwd and /etc/group, as the policy itself).
	Directory policy.Directory
	// Address is the bus Serve connects to; empty means the system bus
	// ($DBUS_SYSTEM_BUS_ADDRESS, or unix:path=/var/run/dbus/system_bus_socket).
	Address string
	// Log receives one line per accepted or refused call that changes something, and
	// the state of the bus connection.
	Log *log.Logger
}

func (o Options) withDefaults() Options {
	if o.ConfigPath == "" {
		o.ConfigPath = config.DefaultPath
	}
	if o.DropinDir == "" {
		o.DropinDir = config.DefaultDropinDir
	}
	if o.Directory == nil {
		o.Directory = policy.System()
	}
	if o.Log == nil {
		o.Log = log.New(os.Stderr, "recd: ", 0)
	}
	return o
}

// Service implements the methods of dev.recd.Recd1; its exported methods returning a
// *dbus.Error are the D-Bus methods (godbus exports them by reflection). The dbus.Sender
// argument is filled in by godbus and is not part of the D-Bus signature.
type Service struct {
	opts Options
	// callerUID asks the bus which UID sent a call.
	callerUID func(sender dbus.Sender) (uint32, error)
	// userName returns the name of the user with uid (os/user: /etc/passwd in a static
	// binary).
	userName func(uid uint32) (string, error)
}

func newService(opts Options, callerUID func(dbus.Sender) (uint32, error)) *Service {
	return &Service{opts: opts.withDefaults(), callerUID: callerUID, userName: userNameOf}
}

func userNameOf(uid uint32) (string, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// busCallerUID returns a callerUID that asks the bus conn is connected to.
func busCallerUID(conn *dbus.Conn) func(dbus.Sender) (uint32, error) {
	return func(sender dbus.Sender) (uint32, error) {
		var uid uint32
		err := conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, string(sender)).Store(&uid)
		if err != nil {
			return 0, fmt.Errorf("asking the bus who %s is: %w", sender, err)
		}
		return uid, nil
	}
}

func dbusError(name, format string, args ...any) *dbus.Error {
	return dbus.NewError(name, []any{fmt.Sprintf(format, args...)})
}

// access is what a method needs from its caller.
type access int

const (
	readAccess  access = iota // root or an auditor
	writeAccess               // root
)

// authorize returns the caller's UID when it may call method, or AccessDenied.
func (s *Service) authorize(sender dbus.Sender, method string, need access) (uint32, *dbus.Error) {
	uid, err := s.callerUID(sender)
	if err != nil {
		s.opts.Log.Printf("D-Bus: %s from %s refused: %v", method, sender, err)
		return 0, dbusError(ErrAccessDenied, "%s: cannot tell who you are: %v", method, err)
	}
	if uid == 0 {
		return uid, nil
	}
	if need == writeAccess {
		s.opts.Log.Printf("D-Bus: %s from uid %d (%s) refused: root only", method, uid, sender)
		return uid, dbusError(ErrAccessDenied, "%s is for root only (you are uid %d)", method, uid)
	}
	ok, why := s.isAuditor(uid)
	if !ok {
		return uid, dbusError(ErrAccessDenied, "%s is for root and the auditors group (you are uid %d: %s)", method, uid, why)
	}
	return uid, nil
}

// isAuditor reports whether uid belongs to the group named by [access] auditors (as a
// listed member or by its primary group), and if not, why.
func (s *Service) isAuditor(uid uint32) (bool, string) {
	cfg, err := config.Load(s.opts.ConfigPath, s.opts.DropinDir)
	if err != nil {
		return false, "the configuration does not validate, so no auditors group is known"
	}
	group := cfg.Access.Auditors
	if group == "" {
		return false, "no [access] auditors group is configured"
	}
	name, err := s.userName(uid)
	if err != nil {
		return false, "no user has that uid"
	}
	g, err := s.opts.Directory.LookupGroup(group)
	if err != nil {
		return false, fmt.Sprintf("the auditors group %s does not exist", group)
	}
	if slices.Contains(g.Members, name) {
		return true, ""
	}
	if u, err := s.opts.Directory.LookupUser(name); err == nil && u.GID == g.GID {
		return true, ""
	}
	return false, fmt.Sprintf("%s is not a member of the auditors group %s", name, group)
}

// GetPolicy returns the effective policy (D-Bus: GetPolicy() → s as as as as).
func (s *Service) GetPolicy(sender dbus.Sender) (scope string, users, groups, excludeUsers, excludeGroups []string, _ *dbus.Error) {
	if _, derr := s.authorize(sender, "GetPolicy", readAccess); derr != nil {
		return "", nil, nil, nil, nil, derr
	}
	cfg, err := config.Load(s.opts.ConfigPath, s.opts.DropinDir)
	if err != nil {
		return "", nil, nil, nil, nil, dbusError(ErrInvalidConfig, "%v", err)
	}
	p := cfg.Policy
	return p.Scope.String(), nonNil(p.Users), nonNil(p.Groups), nonNil(p.ExcludeUsers), nonNil(p.ExcludeGroups), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SetPolicy sets all five keys (D-Bus: SetPolicy(s as as as as) → a(sssb) as b s s).
func (s *Service) SetPolicy(sender dbus.Sender, scope string, users, groups, excludeUsers, excludeGroups []string) ([]Change, []string, bool, string, string, *dbus.Error) {
	sc, err := config.ParseScope(scope)
	if err != nil {
		return s.fail(dbusError(ErrInvalidArgs, "SetPolicy: %v", err))
	}
	edits := []confedit.Edit{confedit.SetScope(sc)}
	for i, names := range [][]string{users, groups, excludeUsers, excludeGroups} {
		edits = append(edits, confedit.ListEdit(config.PolicyKeys[i+1], confedit.Set, names...))
	}
	return s.edit(sender, "SetPolicy", "scope="+sc.String(), edits...)
}

// SetScope sets the scope (D-Bus: SetScope(s) → a(sssb) as b s s).
func (s *Service) SetScope(sender dbus.Sender, scope string) ([]Change, []string, bool, string, string, *dbus.Error) {
	sc, err := config.ParseScope(scope)
	if err != nil {
		return s.fail(dbusError(ErrInvalidArgs, "SetScope: %v", err))
	}
	return s.edit(sender, "SetScope", sc.String(), confedit.SetScope(sc))
}

// EditList adds, removes or sets names of one list (D-Bus: EditList(s s as) → a(sssb) as b s s).
func (s *Service) EditList(sender dbus.Sender, key, action string, names []string) ([]Change, []string, bool, string, string, *dbus.Error) {
	if key == config.KeyScope || !slices.Contains(config.PolicyKeys, key) {
		return s.fail(dbusError(ErrInvalidArgs, "EditList: unknown list %q (users, groups, exclude_users or exclude_groups)", key))
	}
	op, ok := map[string]confedit.Op{"add": confedit.Add, "remove": confedit.Remove, "set": confedit.Set}[action]
	if !ok {
		return s.fail(dbusError(ErrInvalidArgs, "EditList: unknown action %q (add, remove or set)", action))
	}
	if len(names) == 0 && op != confedit.Set {
		return s.fail(dbusError(ErrInvalidArgs, "EditList: %s needs at least one name", action))
	}
	return s.edit(sender, "EditList", key+" "+action+" "+strings.Join(names, ","), confedit.ListEdit(key, op, names...))
}

func (s *Service) fail(derr *dbus.Error) ([]Change, []string, bool, string, string, *dbus.Error) {
	return nil, nil, false, "", "", derr
}

// edit checks the caller and the names, applies the edits to the main file and activates
// the result.
func (s *Service) edit(sender dbus.Sender, method, what string, edits ...confedit.Edit) ([]Change, []string, bool, string, string, *dbus.Error) {
	uid, derr := s.authorize(sender, method, writeAccess)
	if derr != nil {
		return s.fail(derr)
	}
	for _, e := range edits {
		if e.Key == config.KeyScope {
			continue
		}
		for _, n := range e.Names {
			if err := config.CheckName(n); err != nil {
				return s.fail(dbusError(ErrInvalidArgs, "%s: %s: %v", method, e.Key, err))
			}
		}
	}
	ed := &confedit.Editor{Path: s.opts.ConfigPath, DropinDir: s.opts.DropinDir}
	res, err := ed.Apply(edits...)
	if err != nil {
		s.opts.Log.Printf("D-Bus: %s %s from uid %d refused: %v", method, logQuote(what), uid, err)
		return s.fail(dbusError(ErrInvalidConfig, "%v", err))
	}
	out := EditResult{Warnings: nonNil(res.Warnings), Written: res.Written, Changes: []Change{}}
	for _, c := range res.Changes {
		out.Changes = append(out.Changes, Change{Key: c.Key, Old: c.Old, New: c.New, WasSet: c.WasSet})
	}
	if res.Written {
		s.opts.Log.Printf("D-Bus: %s %s from uid %d: wrote %s", method, logQuote(what), uid, s.opts.ConfigPath)
		if err := s.opts.Backend.Reload(fmt.Sprintf("%s over D-Bus by uid %d", method, uid)); err != nil {
			out.ActivationError = err.Error()
		}
	}
	out.Summary = s.opts.Backend.Status().PolicySummary
	return out.Changes, out.Warnings, out.Written, out.Summary, out.ActivationError, nil
}

// logQuote shows a caller-supplied value in a log line without letting it forge a line.
func logQuote(v string) string {
	q := strconv.Quote(v)
	if q[1:len(q)-1] == v && !strings.ContainsAny(v, " =") {
		return v
	}
	return q
}

// Reload activates the configuration on disk (D-Bus: Reload() → s).
func (s *Service) Reload(sender dbus.Sender) (string, *dbus.Error) {
	uid, derr := s.authorize(sender, "Reload", writeAccess)
	if derr != nil {
		return "", derr
	}
	if err := s.opts.Backend.Reload(fmt.Sprintf("Reload over D-Bus by uid %d", uid)); err != nil {
		return "", dbusError(ErrInvalidConfig, "%v", err)
	}
	return s.opts.Backend.Status().PolicySummary, nil
}

// GetStatus returns recd's state (D-Bus: GetStatus() → a{sv}).
func (s *Service) GetStatus(sender dbus.Sender) (map[string]dbus.Variant, *dbus.Error) {
	if _, derr := s.authorize(sender, "GetStatus", readAccess); derr != nil {
		return nil, derr
	}
	st := s.opts.Backend.Status()
	return map[string]dbus.Variant{
		"pid":              dbus.MakeVariant(uint32(st.PID)),
		"started":          dbus.MakeVariant(st.Started),
		"policy_activated": dbus.MakeVariant(st.PolicyActivated),
		"policy_summary":   dbus.MakeVariant(st.PolicySummary),
		"last_error":       dbus.MakeVariant(st.LastError),
		"last_error_at":    dbus.MakeVariant(st.LastErrorAt),
		"reloads":          dbus.MakeVariant(uint32(st.Reloads)),
		"sessions":         dbus.MakeVariant(uint32(st.Sessions)),
		"config_path":      dbus.MakeVariant(s.opts.ConfigPath),
		"conf_dir":         dbus.MakeVariant(s.opts.DropinDir),
	}, nil
}

// ListSessions returns the open logins (D-Bus: ListSessions() → a(ssssuuut)).
func (s *Service) ListSessions(sender dbus.Sender) ([]wireSession, *dbus.Error) {
	if _, derr := s.authorize(sender, "ListSessions", readAccess); derr != nil {
		return nil, derr
	}
	out := []wireSession{}
	for _, x := range s.opts.Backend.Sessions() {
		var opened uint64
		if !x.Opened.IsZero() {
			opened = uint64(x.Opened.UnixMicro())
		}
		out = append(out, wireSession{User: x.User, Service: x.Service, TTY: x.TTY, RHost: x.RHost,
			UID: x.UID, PID: x.PID, AuditSession: x.AuditSession, OpenedUsec: opened})
	}
	return out, nil
}
