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

	"github.com/recd-dev/recd/internal/proto"
)

// maxSessions bounds the table of open sessions; entries of processes that are gone are
// pruned first, so it is only reached by a flood from root.
const maxSessions = 1 << 16

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
			d.opts.Log.Printf("refused %s for user=%s from pid=%d uid=%d: not root and not that user",
				req.Op, logValue(req.User), cred.Pid, cred.Uid)
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
	line := fmt.Sprintf("user=%s service=%s tty=%s rhost=%s pid=%d audit_session=%s",
		logValue(req.User), logValue(req.Service), logValue(req.TTY), logValue(req.RHost),
		cred.Pid, auditString(audit))

	s := d.sessions
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.Op {
	case proto.OpSessionOpen:
		if len(s.open) > 0 {
			for k := range s.open {
				if !s.alive(k.pid) {
					delete(s.open, k)
				}
			}
		}
		if len(s.open) >= maxSessions {
			d.opts.Log.Printf("login: %s (not tracked: %d sessions open)", line, len(s.open))
			return proto.Response{Error: "too many open sessions"}
		}
		s.open[key] = session{rhost: req.RHost, uid: cred.Uid, auditSession: audit, opened: time.Now()}
		d.opts.Log.Printf("login: %s", line)
	case proto.OpSessionClose:
		o, ok := s.open[key]
		if ok {
			delete(s.open, key)
			d.opts.Log.Printf("logout: %s duration=%s", line, time.Since(o.opened).Round(time.Millisecond))
		} else {
			d.opts.Log.Printf("logout: %s (no matching login)", line)
		}
	}
	return proto.Response{OK: true}
}
