package daemon

import (
	"bufio"
	"context"
	"os"
	"strings"
	"sync"
	"time"

	"net"
)

// fqdnTTL is how long a looked-up host name is used before it is looked up again (in the
// background: a recording never waits for a refresh).
const fqdnTTL = time.Minute

// fqdnTimeout bounds one DNS lookup.
const fqdnTimeout = time.Second

// fqdnCache gives the host's fully qualified name for the "host" of tlog messages, as
// tlog's getaddrinfo(AI_CANONNAME) does: the first name of the /etc/hosts line naming
// the host, else the canonical name from DNS, else — never failing, unlike tlog — the
// plain host name.
type fqdnCache struct {
	mu         sync.Mutex
	name       string
	at         time.Time
	refreshing bool
	hostsPath  string
	lookup     func(host string) string
}

func newFQDNCache() *fqdnCache {
	c := &fqdnCache{hostsPath: "/etc/hosts"}
	c.lookup = c.resolve
	return c
}

// get returns the FQDN, looking it up on first use.
func (c *fqdnCache) get() string {
	c.mu.Lock()
	name, at := c.name, c.at
	if name != "" && time.Since(at) > fqdnTTL && !c.refreshing {
		c.refreshing = true
		go func() {
			n := c.lookupNow()
			c.mu.Lock()
			c.name, c.at, c.refreshing = n, time.Now(), false
			c.mu.Unlock()
		}()
	}
	c.mu.Unlock()
	if name != "" {
		return name
	}
	n := c.lookupNow()
	c.mu.Lock()
	c.name, c.at = n, time.Now()
	c.mu.Unlock()
	return n
}

func (c *fqdnCache) lookupNow() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "localhost"
	}
	if n := c.lookup(host); n != "" {
		return n
	}
	return host
}

func (c *fqdnCache) resolve(host string) string {
	if n := hostsCanonical(c.hostsPath, host); n != "" {
		return n
	}
	if strings.Contains(host, ".") {
		return host
	}
	ctx, cancel := context.WithTimeout(context.Background(), fqdnTimeout)
	defer cancel()
	cname, err := net.DefaultResolver.LookupCNAME(ctx, host)
	if err != nil || cname == "" {
		return ""
	}
	return strings.TrimSuffix(cname, ".")
}

// hostsCanonical returns the canonical (first) name of the hosts-file line that names
// host, "" if none does.
func hostsCanonical(path, host string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		for _, n := range fields[1:] {
			if strings.EqualFold(n, host) {
				return fields[1]
			}
		}
	}
	return ""
}
