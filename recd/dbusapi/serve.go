package dbusapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

// DefaultSystemBusAddress is the system bus when $DBUS_SYSTEM_BUS_ADDRESS is not set.
const DefaultSystemBusAddress = "unix:path=/var/run/dbus/system_bus_socket"

// SystemBusAddress returns the address of the system bus.
func SystemBusAddress() string {
	if a := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); a != "" {
		return a
	}
	return DefaultSystemBusAddress
}

// connectTimeout bounds the authentication handshake with a bus that accepted the
// connection but does not answer.
const connectTimeout = 5 * time.Second

// connect opens a private connection to the bus at address (the system bus if empty),
// authenticated as the process's UID.
func connect(ctx context.Context, address string, timeout time.Duration) (*dbus.Conn, error) {
	if address == "" {
		address = SystemBusAddress()
	}
	conn, err := dbus.Dial(address, dbus.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("connecting to the bus at %s: %w", address, err)
	}
	done := make(chan error, 1)
	go func() {
		if err := conn.Auth(nil); err != nil {
			done <- err
			return
		}
		done <- conn.Hello()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err = <-done:
	case <-t.C:
		err = fmt.Errorf("no answer within %s", timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connecting to the bus at %s: %w", address, err)
	}
	return conn, nil
}

// objectIntrospection is what Introspect on /dev/recd/Recd1 answers: the interface of
// IntrospectionXML plus the standard ones.
func objectIntrospection() (introspect.Introspectable, error) {
	var n introspect.Node
	if err := xml.Unmarshal([]byte(IntrospectionXML), &n); err != nil {
		return "", fmt.Errorf("parsing the introspection XML: %w", err)
	}
	n.Name = string(ObjectPath)
	n.Interfaces = append(n.Interfaces, introspect.IntrospectData, peerData)
	return introspect.NewIntrospectable(&n), nil
}

// peerData describes org.freedesktop.DBus.Peer, which godbus answers for every object.
var peerData = introspect.Interface{
	Name: "org.freedesktop.DBus.Peer",
	Methods: []introspect.Method{
		{Name: "Ping"},
		{Name: "GetMachineId", Args: []introspect.Arg{{Name: "machine_uuid", Type: "s", Direction: "out"}}},
	},
}

// Serve offers the API on the bus until ctx is done. recd starts early in boot (before
// logins, possibly before the bus), so a missing bus is no error: Serve says once that the
// API is unavailable and why, tries again with a growing delay (1 s to 30 s), and
// reconnects when the bus restarts. While the API is unavailable, recctl edits the files
// itself and recd activates them on its own.
func Serve(ctx context.Context, opts Options) {
	opts = opts.withDefaults()
	const minWait, maxWait = time.Second, 30 * time.Second
	wait := minWait
	lastErr := ""
	for {
		served, err := serveOnce(ctx, opts)
		if ctx.Err() != nil {
			return
		}
		if served {
			opts.Log.Printf("D-Bus: lost the bus (%v); reconnecting", err)
			wait, lastErr = minWait, ""
		} else if err.Error() != lastErr {
			opts.Log.Printf("D-Bus: management API not available: %v (recctl edits the files directly; retrying)", err)
			lastErr = err.Error()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

// serveOnce connects, takes the name and serves until the connection or ctx ends.
// served says whether it got as far as owning the name.
func serveOnce(ctx context.Context, opts Options) (served bool, err error) {
	intro, err := objectIntrospection()
	if err != nil {
		return false, err
	}
	conn, err := connect(ctx, opts.Address, connectTimeout)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	svc := newService(opts, busCallerUID(conn))
	if err := conn.Export(svc, ObjectPath, Interface); err != nil {
		return false, fmt.Errorf("exporting %s: %w", ObjectPath, err)
	}
	if err := conn.Export(intro, ObjectPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		return false, fmt.Errorf("exporting the introspection data: %w", err)
	}
	reply, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return false, fmt.Errorf("the bus refused the name %s (is /usr/share/dbus-1/system.d/%s.conf installed, and the bus reloaded?): %w",
			BusName, BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return false, fmt.Errorf("another process owns %s on the bus", BusName)
	}
	opts.Log.Printf("D-Bus: serving %s at %s", BusName, ObjectPath)
	select {
	case <-ctx.Done():
		return true, nil
	case <-conn.Context().Done():
		return true, errors.New("the bus closed the connection")
	}
}
