// Package dbusapi is recd's management API on the D-Bus system bus: the name
// dev.recd.Recd1, object /dev/recd/Recd1, interface dev.recd.Recd1 (documented in
// dev.recd.Recd1.xml, installed as /usr/share/dbus-1/interfaces/dev.recd.Recd1.xml).
//
// recd serves it with Serve, which connects when a system bus is there and carries on
// without one (reconnecting when the bus appears or restarts); recctl calls it through a
// Client and edits the files itself when recd does not own the name.
//
// Two gates guard every call: the bus policy (dev.recd.Recd1.conf) lets only root send
// the editing methods and Reload, and recd asks the bus for the caller's UID and answers
// the editing methods for root only and the reading methods for root and the members of
// the [access] auditors group.
package dbusapi

import (
	_ "embed"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/recd-dev/recd/internal/proto"
)

// Names of the API on the bus.
const (
	BusName    = "dev.recd.Recd1"
	ObjectPath = dbus.ObjectPath("/dev/recd/Recd1")
	Interface  = "dev.recd.Recd1"
)

// D-Bus error names recd answers with.
const (
	ErrAccessDenied  = "org.freedesktop.DBus.Error.AccessDenied"
	ErrInvalidArgs   = "org.freedesktop.DBus.Error.InvalidArgs"
	ErrFailed        = "org.freedesktop.DBus.Error.Failed"
	ErrInvalidConfig = "dev.recd.Recd1.Error.InvalidConfig"
)

// IntrospectionXML is the interface's documentation and introspection data (a copy is
// installed from etc/dbus-1/interfaces; a test keeps the two identical).
//
//go:embed dev.recd.Recd1.xml
var IntrospectionXML string

// Backend is what the API needs from the running daemon (*daemon.Daemon, through a small
// adapter in recd's main; a fake in tests).
type Backend interface {
	// Reload activates the configuration on disk; a failure leaves the policy in force.
	Reload(why string) error
	// Status is recd's state.
	Status() proto.Status
	// Sessions are the logins pam_recd registered that are still open.
	Sessions() []Session
}

// Session is one open login, as ListSessions reports it.
type Session struct {
	User, Service, TTY, RHost string
	UID, PID, AuditSession    uint32
	Opened                    time.Time
}

// Change is what an edit did to one key of the main file: D-Bus type (sssb).
type Change struct {
	Key      string
	Old, New string
	WasSet   bool
}

// EditResult is what the editing methods return.
type EditResult struct {
	Changes  []Change
	Warnings []string
	// Written says whether the main file was written.
	Written bool
	// Summary is the policy in force afterwards.
	Summary string
	// ActivationError is why the written file was not activated ("" when it was).
	ActivationError string
}

// Policy is the effective [session_recording] policy, as GetPolicy reports it.
type Policy struct {
	Scope                       string
	Users, Groups               []string
	ExcludeUsers, ExcludeGroups []string
}

// wireSession is a Session on the wire: D-Bus type (ssssuuut).
type wireSession struct {
	User, Service, TTY, RHost string
	UID, PID, AuditSession    uint32
	OpenedUsec                uint64
}
