// Package sssdimport reads the [session_recording] section of SSSD's
// configuration (sssd.conf and its conf.d snippets) so that recctl can
// write the equivalent recd policy. Other sections are ignored.
package sssdimport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/ini.v1"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/iniscan"
)

// Default locations of SSSD's configuration.
const (
	DefaultPath      = "/etc/sssd/sssd.conf"
	DefaultDropinDir = "/etc/sssd/conf.d"
)

// DefaultFiles returns sssd.conf followed by the conf.d/*.conf snippets in
// lexical order (hidden files skipped), the order in which SSSD merges
// them: a later file overrides a key of an earlier one.
func DefaultFiles(mainPath, dropinDir string) ([]string, error) {
	files := []string{mainPath}
	entries, err := os.ReadDir(dropinDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", dropinDir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".conf") {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, filepath.Join(dropinDir, n))
	}
	return files, nil
}

// Policy is SSSD's session recording policy and where each key came from.
type Policy struct {
	Scope config.Scope
	// Lists maps users, groups, exclude_users and exclude_groups to names.
	Lists map[string][]string
	// Sources maps each key found to the file and line that set it.
	Sources map[string]config.Source
	// Warnings are things skipped (unknown keys, empty names).
	Warnings []string
}

// Read reads [session_recording] from files in order; later files override
// earlier ones key by key.
func Read(files []string) (*Policy, error) {
	p := &Policy{Scope: config.ScopeNone, Lists: map[string][]string{}, Sources: map[string]config.Source{}}
	for _, path := range files {
		if err := p.readFile(path); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Policy) readFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading SSSD configuration: %w", err)
	}
	f, err := ini.LoadSources(ini.LoadOptions{
		KeyValueDelimiters:      "=",
		IgnoreInlineComment:     true,
		IgnoreContinuation:      true,
		SkipUnrecognizableLines: true,
		PreserveSurroundedQuote: true,
	}, data)
	if err != nil {
		return fmt.Errorf("reading SSSD configuration %s: %w", path, err)
	}
	sec, err := f.GetSection(config.SectionSessionRecording)
	if err != nil {
		return nil // no such section in this file
	}
	ix := iniscan.NewIndex(iniscan.Scan(data, "="))
	for _, k := range sec.Keys() {
		src := config.Source{File: path, Line: ix.KeyLine(config.SectionSessionRecording, k.Name())}
		raw := k.Value()
		switch k.Name() {
		case config.KeyScope:
			s, err := config.ParseScope(raw)
			if err != nil {
				return fmt.Errorf("%s: [session_recording] scope: %w", src, err)
			}
			p.Scope = s
		case config.KeyUsers, config.KeyGroups, config.KeyExcludeUsers, config.KeyExcludeGroups:
			var names []string
			for _, n := range strings.Split(raw, ",") {
				n = strings.TrimSpace(n)
				if n == "" {
					if strings.TrimSpace(raw) != "" {
						p.Warnings = append(p.Warnings, fmt.Sprintf("%s: %s: empty name skipped", src, k.Name()))
					}
					continue
				}
				if err := config.CheckName(n); err != nil {
					return fmt.Errorf("%s: [session_recording] %s: %w", src, k.Name(), err)
				}
				if !contains(names, n) {
					names = append(names, n)
				}
			}
			p.Lists[k.Name()] = names
		default:
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: unknown key %s skipped", src, k.Name()))
			continue
		}
		p.Sources[k.Name()] = src
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
