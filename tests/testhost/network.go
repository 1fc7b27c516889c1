package testhost

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Network is a private IPv4 LAN between test hosts, 10.77.0.0/24 (NetworkPrefix): the
// first host given to Connect is the hub and holds a bridge, every other host is joined
// to it by a veth pair. Each host gets eth0 (the hub: the bridge, br0) with the address
// 10.77.0.N, N = its place in the Connect call (1 for the hub), and /etc/hosts entries
// naming all the others, so programs that resolve the peer's address (as
// systemd-journal-remote does to name its files) find its host name.
//
// Nothing of it exists in the machine's own network namespace: the veth pairs are created
// directly in the hosts' namespaces (ip link add … netns PID … peer … netns PID), so they
// vanish with the hosts, and a failed test leaves no interface behind. Every network is
// separate: two tests may both use 10.77.0.0/24 at the same time.
type Network struct {
	hosts []*Host
	addrs map[*Host]string
}

// NetworkPrefix is the /24 every Network uses.
const NetworkPrefix = "10.77.0."

// Connect joins the hosts on one Network (at least two, at most 250, each in one network
// only) and returns once every interface is up. It fails the test on error.
func Connect(t T, hosts ...*Host) *Network {
	t.Helper()
	if len(hosts) < 2 || len(hosts) > 250 {
		t.Fatalf("testhost: Connect needs 2 to 250 hosts, got %d", len(hosts))
	}
	n := &Network{hosts: hosts, addrs: map[*Host]string{}}
	for i, h := range hosts {
		if _, dup := n.addrs[h]; dup {
			t.Fatalf("testhost: Connect: host %s given twice", h.name)
		}
		if err := h.verify(); err != nil {
			t.Fatalf("testhost: Connect: %v", err)
		}
		n.addrs[h] = NetworkPrefix + strconv.Itoa(i+1)
	}
	hub := hosts[0]
	must := func(h *Host, args ...string) {
		t.Helper()
		if out, err := h.Run("ip", args...); err != nil {
			t.Fatalf("testhost: Connect: %v\n%s", err, out)
		}
	}
	must(hub, "link", "add", "br0", "type", "bridge")
	must(hub, "addr", "add", n.addrs[hub]+"/24", "dev", "br0")
	must(hub, "link", "set", "br0", "up")
	for i, h := range hosts[1:] {
		port := fmt.Sprintf("vport%d", i+2)
		// Created from outside, straight into the two namespaces; the PIDs were just
		// verified to be the hosts' inits.
		cmd := exec.Command("ip", "link", "add", port, "netns", strconv.Itoa(hub.pid), "type", "veth",
			"peer", "name", "eth0", "netns", strconv.Itoa(h.pid))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("testhost: Connect: creating the veth pair %s (%s) – eth0 (%s): %v\n%s", port, hub.name, h.name, err, out)
		}
		must(hub, "link", "set", port, "master", "br0")
		must(hub, "link", "set", port, "up")
		must(h, "addr", "add", n.addrs[h]+"/24", "dev", "eth0")
		must(h, "link", "set", "eth0", "up")
	}
	for _, h := range hosts {
		var lines []string
		for _, o := range hosts {
			if o != h {
				lines = append(lines, n.addrs[o]+"\t"+o.name)
			}
		}
		old := strings.TrimRight(string(h.ReadFile("/etc/hosts")), "\n")
		h.WriteFile("/etc/hosts", []byte(old+"\n# testhost.Connect\n"+strings.Join(lines, "\n")+"\n"), 0o644)
	}
	return n
}

// Addr returns the IPv4 address of h on the network ("" if h is not on it).
func (n *Network) Addr(h *Host) string { return n.addrs[h] }
