package policy

import "fmt"

// MemoryDirectory is a Directory over entries read once, so that deciding every user of a
// host (as compiling the snapshot does) reads the files once instead of once per lookup.
// As with the files source, the first entry of a name or GID wins.
type MemoryDirectory struct {
	users  map[string]User
	groups map[string]Group
	byGID  map[uint32]Group
}

// NewMemoryDirectory indexes users and groups.
func NewMemoryDirectory(users []User, groups []Group) *MemoryDirectory {
	d := &MemoryDirectory{users: map[string]User{}, groups: map[string]Group{}, byGID: map[uint32]Group{}}
	for _, u := range users {
		if _, dup := d.users[u.Name]; !dup {
			d.users[u.Name] = u
		}
	}
	for _, g := range groups {
		if _, dup := d.groups[g.Name]; !dup {
			d.groups[g.Name] = g
		}
		if _, dup := d.byGID[g.GID]; !dup {
			d.byGID[g.GID] = g
		}
	}
	return d
}

// LookupUser implements Directory.
func (d *MemoryDirectory) LookupUser(name string) (User, error) {
	if u, ok := d.users[name]; ok {
		return u, nil
	}
	return User{}, fmt.Errorf("user %q: %w", name, ErrNotFound)
}

// LookupGroup implements Directory.
func (d *MemoryDirectory) LookupGroup(name string) (Group, error) {
	if g, ok := d.groups[name]; ok {
		return g, nil
	}
	return Group{}, fmt.Errorf("group %q: %w", name, ErrNotFound)
}

// LookupGroupByGID implements Directory.
func (d *MemoryDirectory) LookupGroupByGID(gid uint32) (Group, error) {
	if g, ok := d.byGID[gid]; ok {
		return g, nil
	}
	return Group{}, fmt.Errorf("group with GID %d: %w", gid, ErrNotFound)
}
