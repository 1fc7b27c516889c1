package daemon

import (
	"sort"
	"time"
)

// SessionInfo is one open login that pam_recd registered.
type SessionInfo struct {
	// User, Service, TTY and RHost are what pam_recd said (PAM_USER, PAM_SERVICE, ...).
	User, Service, TTY, RHost string
	// UID and PID are the registering process's, from SO_PEERCRED.
	UID uint32
	PID int32
	// AuditSession is the kernel's audit session ID (proto.AuditSessionUnset if none).
	AuditSession uint32
	// Opened is when the login was registered.
	Opened time.Time
}

// Sessions returns the open logins, oldest first (for recd's D-Bus API, ListSessions).
func (d *Daemon) Sessions() []SessionInfo {
	s := d.sessions
	s.mu.Lock()
	out := make([]SessionInfo, 0, len(s.open))
	for k, v := range s.open {
		out = append(out, SessionInfo{User: k.user, Service: k.service, TTY: k.tty, RHost: v.rhost,
			UID: v.uid, PID: k.pid, AuditSession: v.auditSession, Opened: v.opened})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Opened.Equal(out[j].Opened) {
			return out[i].Opened.Before(out[j].Opened)
		}
		return out[i].PID < out[j].PID
	})
	return out
}
