package dbusapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// ErrNotServing means nobody offers the API: there is no bus, or recd does not own
// BusName on it (recd is not running, or runs without the bus).
var ErrNotServing = errors.New("recd does not offer its D-Bus API")

// Client calls recd's API. Calls never start anything: the name is not bus-activatable,
// and calls carry NO_AUTO_START.
type Client struct {
	conn    *dbus.Conn
	obj     dbus.BusObject
	timeout time.Duration
}

// Dial connects to the bus at address (the system bus if empty) and checks that someone
// owns BusName; it returns an error wrapping ErrNotServing when there is no bus or no
// owner.
func Dial(ctx context.Context, address string) (*Client, error) {
	conn, err := connect(ctx, address, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotServing, err)
	}
	var has bool
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := conn.BusObject().CallWithContext(cctx, "org.freedesktop.DBus.NameHasOwner", 0, BusName).Store(&has); err != nil {
		conn.Close()
		return nil, fmt.Errorf("asking the bus whether %s has an owner: %w", BusName, err)
	}
	if !has {
		conn.Close()
		return nil, fmt.Errorf("%w: %s has no owner on the bus", ErrNotServing, BusName)
	}
	return &Client{conn: conn, obj: conn.Object(BusName, ObjectPath), timeout: 30 * time.Second}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) call(method string, args ...any) *dbus.Call {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	return c.obj.CallWithContext(ctx, Interface+"."+method, dbus.FlagNoAutoStart, args...)
}

// Status returns GetStatus's answer.
func (c *Client) Status() (map[string]dbus.Variant, error) {
	var st map[string]dbus.Variant
	err := c.call("GetStatus").Store(&st)
	return st, err
}

// StatusString returns one string entry of GetStatus's answer ("" if absent).
func StatusString(st map[string]dbus.Variant, key string) string {
	s, _ := st[key].Value().(string)
	return s
}

// Policy returns GetPolicy's answer.
func (c *Client) Policy() (*Policy, error) {
	var p Policy
	err := c.call("GetPolicy").Store(&p.Scope, &p.Users, &p.Groups, &p.ExcludeUsers, &p.ExcludeGroups)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func (c *Client) storeEdit(call *dbus.Call) (*EditResult, error) {
	var r EditResult
	if err := call.Store(&r.Changes, &r.Warnings, &r.Written, &r.Summary, &r.ActivationError); err != nil {
		return nil, err
	}
	return &r, nil
}

// SetPolicy calls SetPolicy.
func (c *Client) SetPolicy(p Policy) (*EditResult, error) {
	return c.storeEdit(c.call("SetPolicy", p.Scope, nonNil(p.Users), nonNil(p.Groups), nonNil(p.ExcludeUsers), nonNil(p.ExcludeGroups)))
}

// SetScope calls SetScope.
func (c *Client) SetScope(scope string) (*EditResult, error) {
	return c.storeEdit(c.call("SetScope", scope))
}

// EditList calls EditList.
func (c *Client) EditList(key, action string, names []string) (*EditResult, error) {
	return c.storeEdit(c.call("EditList", key, action, nonNil(names)))
}

// Reload calls Reload and returns the policy summary.
func (c *Client) Reload() (string, error) {
	var s string
	err := c.call("Reload").Store(&s)
	return s, err
}

// Sessions calls ListSessions.
func (c *Client) Sessions() ([]Session, error) {
	var w []wireSession
	if err := c.call("ListSessions").Store(&w); err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(w))
	for _, x := range w {
		s := Session{User: x.User, Service: x.Service, TTY: x.TTY, RHost: x.RHost, UID: x.UID, PID: x.PID, AuditSession: x.AuditSession}
		if x.OpenedUsec != 0 {
			s.Opened = time.UnixMicro(int64(x.OpenedUsec))
		}
		out = append(out, s)
	}
	return out, nil
}

// ErrorName returns the D-Bus error name of err ("" when err is not a D-Bus error).
func ErrorName(err error) string {
	var e dbus.Error
	if errors.As(err, &e) {
		return e.Name
	}
	var pe *dbus.Error
	if errors.As(err, &pe) && pe != nil {
		return pe.Name
	}
	return ""
}
