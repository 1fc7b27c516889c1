package dbusapi

import (
	"encoding/xml"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5/introspect"
)

// The installed copy of the interface description is this package's, byte for byte.
func TestInstalledXMLIsTheSame(t *testing.T) {
	b, err := os.ReadFile("../../etc/dbus-1/interfaces/dev.recd.Recd1.xml")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != IntrospectionXML {
		t.Fatal("etc/dbus-1/interfaces/dev.recd.Recd1.xml differs from recd/dbusapi/dev.recd.Recd1.xml; copy one over the other")
	}
}

func signatures(ms []introspect.Method) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		var in, outs []string
		for _, a := range m.Args {
			if a.Direction == "in" {
				in = append(in, a.Type)
			} else {
				outs = append(outs, a.Type)
			}
		}
		out[m.Name] = "(" + strings.Join(in, ",") + ") -> (" + strings.Join(outs, ",") + ")"
	}
	return out
}

// The documented methods are exactly the exported ones, with the same signatures, and
// every argument has a name.
func TestXMLMatchesTheMethods(t *testing.T) {
	var n introspect.Node
	if err := xml.Unmarshal([]byte(IntrospectionXML), &n); err != nil {
		t.Fatal(err)
	}
	if len(n.Interfaces) != 1 || n.Interfaces[0].Name != Interface {
		t.Fatalf("interfaces %+v, want only %s", n.Interfaces, Interface)
	}
	documented := signatures(n.Interfaces[0].Methods)
	exported := signatures(introspect.Methods(&Service{}))
	var names []string
	for k := range exported {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		if documented[name] != exported[name] {
			t.Errorf("%s: documented %s, exported %s", name, documented[name], exported[name])
		}
	}
	for name := range documented {
		if _, ok := exported[name]; !ok {
			t.Errorf("%s is documented but not exported", name)
		}
	}
	for _, m := range n.Interfaces[0].Methods {
		for i, a := range m.Args {
			if a.Name == "" {
				t.Errorf("%s: argument %d has no name", m.Name, i)
			}
		}
	}
	if _, err := objectIntrospection(); err != nil {
		t.Fatal(err)
	}
}
