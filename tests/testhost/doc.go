// Package testhost runs an isolated Linux "test host" for recd's integration tests.
//
// A Host is a set of fresh Linux namespaces (mount, network, PID, UTS and IPC) whose
// /etc, /usr, /var and /root are copy-on-write overlays of the machine's own
// directories and whose /run, /home, /tmp and /dev/shm are empty tmpfs mounts. Inside it
// tests add users, write PAM and NSS configuration, install recd with `make install`,
// and run the real systemd-journald and OpenSSH sshd, while the machine's own /etc,
// /usr and /var are never written: every write lands in the overlay's upper directory
// under a per-host state directory, which is removed when the test ends.
//
// Commands run inside through nsenter(1); files are read and written from outside
// through /proc/PID/root, after checking that PID really is the host's namespace.
//
// Typical use:
//
//	h := testhost.New(t, testhost.WithHostname("web1"))
//	h.StartJournald()
//	h.Install()
//	h.AddUser("alice")
//	h.StartSSHD(testhost.SSHDOptions{})
//	out, _, code, err := h.SSH("alice", "id -un")
//
// New skips the test when not run as root or when a required tool is missing. The
// environment variable RECD_TESTHOST_KEEP=1 keeps the state directory (overlay upper
// layers, logs, persistent journal) after the test for debugging; it is a knob of this
// test harness only, not of recd.
package testhost
