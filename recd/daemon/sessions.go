package daemon

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/recd-dev/recd/internal/proto"
)

// maxSessions bounds the table of open sessions; entries of processes that are gone are
// pruned first, so it is only reached by a flood from root.
const maxSessions = 1 << 16

// maxSessionsPerUID bounds the sessions a client other than root can register (only its
// own logins: pam_recd in a program that does not run as root), so that no user can fill
// the table that root's registrations go into.
const maxSessionsPerUID = 64

// countUID counts the sessions registered by clients of uid. The caller holds s.mu.
func (s *sessions) countUID(uid uint32) int {
	n := 0
	for _, o := range s.open {
		if o.uid == uid {
			n++
		}
	}
	return n
}

// sessionKey identifies one PAM session: the process that opened it (from SO_PEERCRED) and
// what it said about it. pam_recd opens and closes a session from the same process and
// handle, so both requests carry the same key.
type sessionKey struct {
	pid                int32
	user, service, tty string
}

type session struct {
	rhost        string
	uid          uint32
	auditSession uint32
	opened       time.Time
	// rec is the recording of this login, once its recorder connected.
	rec string
}

// sessions is the table of logins registered by pam_recd.
type sessions struct {
	mu    sync.Mutex
	open  map[sessionKey]session
	alive func(pid int32) bool
}

func newSessions() *sessions {
	return &sessions{open: map[sessionKey]session{}, alive: processAlive}
}

// loginOf finds the login a recorder belongs to: the registered session whose process is
// the recorder itself or its nearest ancestor (pam_recd registers from the process that
// runs the PAM session, e.g. sshd's session child, of which the recorder descends).
func (s *sessions) loginOf(pid int32, anc []procRef) (loginInfo, session, bool) {
	depth := map[int32]int{pid: 0}
	for i, a := range anc {
		if _, ok := depth[a.pid]; !ok {
			depth[a.pid] = i + 1
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		best  sessionKey
		found bool
		bestD int
	)
	for k := range s.open {
		dd, ok := depth[k.pid]
		if !ok || found && dd >= bestD {
			continue
		}
		best, bestD, found = k, dd, true
	}
	if !found {
		return loginInfo{}, session{}, false
	}
	o := s.open[best]
	k := best
	return loginInfo{service: k.service, tty: k.tty, rhost: o.rhost, key: &k}, o, true
}

// setRec notes the recording of a registered login, for its logout entry.
func (s *sessions) setRec(k sessionKey, rec string) {
	s.mu.Lock()
	if o, ok := s.open[k]; ok {
		o.rec = rec
		s.open[k] = o
	}
	s.mu.Unlock()
}

func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// processAlive reports whether pid exists (recd runs as root, so signal 0 is allowed).
func processAlive(pid int32) bool {
	err := syscall.Kill(int(pid), 0)
	return err == nil || err == syscall.EPERM
}

// lookupUID returns the UID of the user called name.
func lookupUID(name string) (uint32, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %s has a non-numeric uid %q", name, u.Uid)
	}
	return uint32(uid), nil
}

// auditSessionOf reads the kernel's audit session ID of pid.
func auditSessionOf(pid int32) (uint32, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/sessionid", pid))
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// logValue shows a client-supplied value in a log line: as is when it is a plain word,
// quoted (Go syntax) when it is empty or holds spaces, quotes, control or non-printable
// characters, so a value can never forge a second line or a further key=value pair.
func logValue(v string) string {
	if v == "" {
		return `""`
	}
	for _, r := range v {
		if r == '"' || r == '\\' || r == '=' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return strconv.Quote(v)
		}
	}
	return v
}

func auditString(id uint32) string {
	if id == proto.AuditSessionUnset {
		return "unset"
	}
	return strconv.FormatUint(uint64(id), 10)
}

// session answers "session-open" and "session-close" from pam_recd. The process and its
// UID come from SO_PEERCRED; the JSON's user is accepted from root, or when it is the peer's
// own user; the JSON's pid is information only (the client may live in another PID
// namespace), and the audit session is the kernel's when /proc shows it.
func (d *Daemon) session(cred *syscall.Ucred, req proto.Request) proto.Response {
	if req.User == "" {
		return proto.Response{Error: req.Op + ": no user"}
	}
	if cred.Uid != 0 {
		uid, err := d.lookupUID(req.User)
		if err != nil || uid != cred.Uid {
			if d.guard.firstAbuse(cred, abuseForeignSession) { // the rest is summed up (abuse.go)
				d.opts.Log.Printf("refused %s for user=%s from pid=%d uid=%d: not root and not that user",
					req.Op, logValue(req.User), cred.Pid, cred.Uid)
			}
			return proto.Response{Error: fmt.Sprintf("%s for %s refused: you are uid %d, not root or that user",
				req.Op, req.User, cred.Uid)}
		}
	}
	audit := req.AuditSession
	if id, ok := d.auditSessionOf(cred.Pid); ok {
		audit = id
	} else if audit == 0 {
		audit = proto.AuditSessionUnset // neither known nor said
	}
	key := sessionKey{pid: cred.Pid, user: req.User, service: req.Service, tty: req.TTY}
	fields := map[string]string{"RECD_USER": req.User, "RECD_SERVICE": req.Service, "RECD_TTY": req.TTY,
		"RECD_RHOST": req.RHost, "RECD_AUDIT_SESSION": strconv.FormatUint(uint64(audit), 10)}
	line := fmt.Sprintf("user=%s service=%s tty=%s rhost=%s pid=%d audit_session=%s",
		logValue(req.User), logValue(req.Service), logValue(req.TTY), logValue(req.RHost),
		cred.Pid, auditString(audit))

	ev, resp := d.sessions.update(req.Op, key, session{rhost: req.RHost, uid: cred.Uid, auditSession: audit, opened: time.Now()})
	switch {
	case resp.Error != "":
		d.opts.Log.Printf("login: %s (not tracked: %s)", line, resp.Error)
		return resp
	case req.Op == proto.OpSessionOpen:
		d.event(msgIDLogin, journal.PriInfo, "login: "+line, fields)
	case ev.known:
		if ev.rec != "" {
			fields["RECD_RECORDING"] = ev.rec
		}
		d.event(msgIDLogout, journal.PriInfo, fmt.Sprintf("logout: %s duration=%s", line, ev.duration.Round(time.Millisecond)), fields)
	default:
		d.event(msgIDLogout, journal.PriInfo, fmt.Sprintf("logout: %s (no matching login)", line), fields)
	}
	return resp
}

// logoutInfo is what the table knew of a login that ended.
type logoutInfo struct {
	known    bool
	rec      string
	duration time.Duration
}

// update applies a session-open (registering o) or a session-close to the table.
func (s *sessions) update(op string, key sessionKey, o session) (logoutInfo, proto.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case proto.OpSessionOpen:
		if len(s.open) > 0 {
			for k := range s.open {
				if !s.alive(k.pid) {
					delete(s.open, k)
				}
			}
		}
		if len(s.open) >= maxSessions {
			return logoutInfo{}, proto.Response{Error: fmt.Sprintf("too many open sessions (%d)", len(s.open))}
		}
		if _, known := s.open[key]; !known && o.uid != 0 && s.countUID(o.uid) >= maxSessionsPerUID {
			return logoutInfo{}, proto.Response{Error: fmt.Sprintf("uid %d has %d sessions registered, the most recd keeps for a user other than root", o.uid, maxSessionsPerUID)}
		}
		s.open[key] = o
	case proto.OpSessionClose:
		old, ok := s.open[key]
		if ok {
			delete(s.open, key)
			return logoutInfo{known: true, rec: old.rec, duration: time.Since(old.opened)}, proto.Response{OK: true}
		}
	}
	return logoutInfo{}, proto.Response{OK: true}
}
