package sysconf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
)

// Family is a group of distributions that wire PAM and NSS the same way.
type Family string

// The families recctl knows.
const (
	// Debian is Debian and Ubuntu (and derivatives): pam-auth-update manages
	// /etc/pam.d/common-*; /etc/nsswitch.conf is edited in place.
	Debian Family = "debian"
	// EL7 is CentOS/RHEL 7 (and rebuilds): authconfig writes system-auth-ac and
	// password-auth-ac and rewrites /etc/nsswitch.conf.
	EL7 Family = "el7"
	// EL is RHEL 8 and later, CentOS Stream, Rocky, Alma, Oracle Linux, Fedora: authselect
	// owns the PAM stacks and nsswitch.conf when a profile is selected.
	EL Family = "el"
	// Unknown is anything else: recctl refuses to guess.
	Unknown Family = "unknown"
)

// Distro is the detected distribution.
type Distro struct {
	Family Family
	// ID, IDLike, VersionID and PrettyName come from /etc/os-release.
	ID, IDLike, VersionID, PrettyName string
	// Major is the major version (0 if unknown).
	Major int
}

// String names the distribution for messages.
func (d Distro) String() string {
	name := d.PrettyName
	if name == "" {
		name = strings.TrimSpace(d.ID + " " + d.VersionID)
	}
	if name == "" {
		name = "an unknown distribution"
	}
	return fmt.Sprintf("%s (family %s)", name, d.Family)
}

// ParseOSRelease reads the KEY=value lines of an os-release(5) file.
func ParseOSRelease(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
			v = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\$`, `$`, "\\`", "`").Replace(v)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

var redhatRelease = regexp.MustCompile(`release (\d+)`)

// Detect finds the distribution family of the host from /etc/os-release (or
// /usr/lib/os-release), with /etc/redhat-release and /etc/debian_version as fallbacks.
func Detect(f FS) (Distro, error) {
	var d Distro
	data, err := f.ReadFile("/etc/os-release")
	if errors.Is(err, fs.ErrNotExist) {
		data, err = f.ReadFile("/usr/lib/os-release")
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return d, fmt.Errorf("reading os-release: %w", err)
	}
	osr := ParseOSRelease(data)
	d.ID, d.IDLike, d.VersionID, d.PrettyName = osr["ID"], osr["ID_LIKE"], osr["VERSION_ID"], osr["PRETTY_NAME"]
	if maj, _, _ := strings.Cut(d.VersionID, "."); maj != "" {
		d.Major, _ = strconv.Atoi(maj)
	}
	words := append([]string{d.ID}, strings.Fields(d.IDLike)...)
	has := func(names ...string) bool {
		for _, w := range words {
			for _, n := range names {
				if w == n {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("debian", "ubuntu"):
		d.Family = Debian
	case has("rhel", "centos", "fedora", "rocky", "almalinux", "ol"):
		if d.Major == 0 && d.ID != "fedora" {
			if rr, err := f.ReadFile("/etc/redhat-release"); err == nil {
				if m := redhatRelease.FindSubmatch(rr); m != nil {
					d.Major, _ = strconv.Atoi(string(m[1]))
				}
			}
		}
		switch {
		case d.ID == "fedora":
			d.Family = EL
		case d.Major == 7:
			d.Family = EL7
		case d.Major >= 8:
			d.Family = EL
		default:
			d.Family = Unknown
		}
	default:
		d.Family = Unknown
		if rr, err := f.ReadFile("/etc/redhat-release"); err == nil {
			if m := redhatRelease.FindSubmatch(rr); m != nil {
				d.Major, _ = strconv.Atoi(string(m[1]))
				if d.PrettyName == "" {
					d.PrettyName = strings.TrimSpace(string(rr))
				}
				switch {
				case d.Major == 7:
					d.Family = EL7
				case d.Major >= 8:
					d.Family = EL
				}
			}
		} else if f.Exists("/etc/debian_version") {
			d.Family = Debian
		}
	}
	return d, nil
}
