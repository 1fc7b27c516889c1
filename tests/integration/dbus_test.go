package integration

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/tests/testhost"
)

// startSystemBus runs the test host's own system bus: Debian's system.conf (which reads
// the policies in /usr/share/dbus-1/system.d, recd's included after Install) on the
// host's /run/dbus/system_bus_socket.
func startSystemBus(t *testing.T, h *testhost.Host) *testhost.Daemon {
	t.Helper()
	for _, tool := range []string{"dbus-daemon", "dbus-send"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian: dbus; make deps installs it); skipping", tool)
		}
	}
	h.Shell("install -d -m 0755 /run/dbus")
	bus := h.Start("dbus", "dbus-daemon", "--system", "--nofork", "--nopidfile")
	waitUntil(t, 10*time.Second, "the system bus listens", func() bool {
		_, err := h.Run("dbus-send", "--system", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
			"org.freedesktop.DBus.GetId")
		return err == nil
	})
	return bus
}

// dbusSend calls a method of recd's API inside the host, as root or (with user) as that
// user, and returns dbus-send's output and whether it succeeded.
func dbusSend(h *testhost.Host, user, method string, args ...string) (string, bool) {
	cmd := []string{"dbus-send", "--system", "--print-reply", "--dest=dev.recd.Recd1", "/dev/recd/Recd1", method}
	cmd = append(cmd, args...)
	if user != "" {
		cmd = append([]string{"runuser", "-u", user, "--"}, cmd...)
	}
	out, err := h.Run(cmd[0], cmd[1:]...)
	return string(out), err == nil
}

// recd offers dev.recd.Recd1 on the host's system bus: root sets the policy through it
// (recctl does, when recd runs), another user gets AccessDenied from the bus for the
// editing methods and from recd for the reading ones, a member of the auditors group
// reads but does not edit; with recd stopped, recctl edits the file itself.
func TestDBusAPI(t *testing.T) {
	t.Parallel()
	h := testhost.New(t)
	h.Install()
	h.AddGroup("auditors", 1600)
	h.AddUser("bob", testhost.UserShell("/bin/sh"))
	h.AddUser("audrey", testhost.UserGroups("auditors"), testhost.UserShell("/bin/sh"))
	conf := "[session_recording]\nscope = none\n\n[access]\nauditors = auditors\n"
	h.WriteFile("/etc/recd/recd.conf", []byte(conf), 0o644)
	startSystemBus(t, h)
	recd := h.Start("recd", "/usr/sbin/recd")
	waitUntil(t, 15*time.Second, "recd serves dev.recd.Recd1", func() bool {
		return strings.Contains(recd.Log(), "D-Bus: serving dev.recd.Recd1 at /dev/recd/Recd1")
	})

	// Root, through recctl: the edit is recd's, over the bus.
	out := h.MustRun(t, "recctl", "users", "add", "bob")
	if !strings.Contains(out, "users: (not set) → bob") || !strings.Contains(out, "Policy activated by recd (through D-Bus): scope=none") {
		t.Fatalf("recctl users add bob:\n%s", out)
	}
	if !strings.Contains(recd.Log(), `D-Bus: EditList "users add bob" from uid 0: wrote /etc/recd/recd.conf`) {
		t.Fatalf("recd did not make the edit:\n%s", recd.Log())
	}
	out = h.MustRun(t, "recctl", "scope", "some")
	if !strings.Contains(out, "(through D-Bus): scope=some users=bob") {
		t.Fatalf("recctl scope some:\n%s", out)
	}

	// Root, through dbus-send.
	if out, ok := dbusSend(h, "", "dev.recd.Recd1.EditList", "string:users", "string:add", "array:string:audrey"); !ok ||
		!strings.Contains(out, "scope=some users=bob,audrey") {
		t.Fatalf("EditList as root: %v\n%s", ok, out)
	}
	want := string(h.ReadFile("/etc/recd/recd.conf"))
	if !strings.Contains(want, "users = bob, audrey") || !strings.Contains(want, "scope = some") {
		t.Fatalf("recd.conf after the edits:\n%s", want)
	}

	// bob: the bus itself refuses the editing methods; recd refuses the reading ones.
	for _, call := range [][]string{
		{"dev.recd.Recd1.SetScope", "string:all"},
		{"dev.recd.Recd1.EditList", "string:users", "string:remove", "array:string:bob"},
		{"dev.recd.Recd1.SetPolicy", "string:none", "array:string:", "array:string:", "array:string:", "array:string:"},
		{"dev.recd.Recd1.Reload"},
		{"dev.recd.Recd1.GetPolicy"},
		{"dev.recd.Recd1.ListSessions"},
	} {
		out, ok := dbusSend(h, "bob", call[0], call[1:]...)
		if ok || !strings.Contains(out, "org.freedesktop.DBus.Error.AccessDenied") {
			t.Errorf("%s as bob: succeeded=%v, want AccessDenied:\n%s", call[0], ok, out)
		}
	}
	if out, _ := dbusSend(h, "bob", "dev.recd.Recd1.GetStatus"); !strings.Contains(out, "bob is not a member of the auditors group auditors") {
		t.Errorf("GetStatus as bob: want recd's refusal with the reason:\n%s", out)
	}
	if got := string(h.ReadFile("/etc/recd/recd.conf")); got != want {
		t.Fatalf("a refused call changed recd.conf:\n%s", got)
	}
	for _, l := range strings.Split(recd.Log(), "\n") {
		if strings.Contains(l, ": wrote ") && !strings.Contains(l, "from uid 0:") {
			t.Fatalf("recd wrote for somebody else than root:\n%s", recd.Log())
		}
	}
	// Introspection is open to everyone.
	if out, ok := dbusSend(h, "bob", "org.freedesktop.DBus.Introspectable.Introspect"); !ok || !strings.Contains(out, `<method name="SetPolicy">`) {
		t.Errorf("Introspect as bob: %v\n%s", ok, out)
	}

	// audrey, an auditor: reads, does not edit.
	if out, ok := dbusSend(h, "audrey", "dev.recd.Recd1.GetPolicy"); !ok || !strings.Contains(out, `string "some"`) || !strings.Contains(out, `string "audrey"`) {
		t.Errorf("GetPolicy as audrey: %v\n%s", ok, out)
	}
	if out, ok := dbusSend(h, "audrey", "dev.recd.Recd1.ListSessions"); !ok {
		t.Errorf("ListSessions as audrey:\n%s", out)
	}
	if out, ok := dbusSend(h, "audrey", "dev.recd.Recd1.SetScope", "string:none"); ok || !strings.Contains(out, "AccessDenied") {
		t.Errorf("SetScope as audrey: succeeded=%v\n%s", ok, out)
	}

	// Without recd on the bus, recctl edits the file and activates it itself.
	recd.Stop()
	out = h.MustRun(t, "recctl", "users", "remove", "audrey")
	if strings.Contains(out, "D-Bus") || !strings.Contains(out, "Policy activated (recd is not running") {
		t.Fatalf("recctl users remove audrey without recd:\n%s", out)
	}
}
