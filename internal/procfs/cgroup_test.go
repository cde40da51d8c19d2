package procfs

import (
	"reflect"
	"testing"
)

func TestReadCgroupFixture(t *testing.T) {
	entries, err := ReadCgroup(fixtureRoot, 3668)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 10 {
		t.Fatalf("got %d entries, want 10: %+v", len(entries), entries)
	}
	wantFirst := CgroupEntry{HierarchyID: 9, Controllers: []string{"name=systemd"}, Path: "/"}
	if !reflect.DeepEqual(entries[0], wantFirst) {
		t.Errorf("first entry = %+v, want %+v", entries[0], wantFirst)
	}
	wantLast := CgroupEntry{HierarchyID: 0, Path: "/"}
	if !reflect.DeepEqual(entries[9], wantLast) {
		t.Errorf("last entry = %+v, want %+v", entries[9], wantLast)
	}
}

func TestParseCgroup(t *testing.T) {
	data := "12:cpu,cpuacct:/docker/abc\n0::/system.slice/a:b.service\n"
	entries, err := ParseCgroup([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []CgroupEntry{
		{HierarchyID: 12, Controllers: []string{"cpu", "cpuacct"}, Path: "/docker/abc"},
		{HierarchyID: 0, Path: "/system.slice/a:b.service"},
	}
	if !reflect.DeepEqual(entries, want) {
		t.Errorf("ParseCgroup = %+v, want %+v", entries, want)
	}
}

func TestParseCgroupInvalid(t *testing.T) {
	for _, data := range []string{"0:/\n", "x::/\n"} {
		if _, err := ParseCgroup([]byte(data)); err == nil {
			t.Errorf("ParseCgroup(%q) succeeded, want error", data)
		}
	}
}

func TestSelectCgroupPath(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		want   string
		wantOK bool
	}{
		{"v2 only", "0::/kubepods/pod1/ctr\n", "/kubepods/pod1/ctr", true},
		{"v2 preferred over v1", "4:memory:/docker/v1\n0::/docker/v2\n", "/docker/v2", true},
		{"hybrid with v2 at root", "8:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n", "/docker/abc", true},
		{"pids before memory", "4:memory:/m\n8:pids:/p\n", "/p", true},
		{"memory before systemd", "9:name=systemd:/s\n4:memory:/m\n", "/m", true},
		{"systemd only", "9:name=systemd:/user.slice\n3:cpuset:/\n", "/user.slice", true},
		{"all at root", "8:pids:/\n0::/\n", "/", true},
		{"no usable entry", "3:cpuset:/c\n", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		entries, err := ParseCgroup([]byte(tt.data))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, ok := SelectCgroupPath(entries)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: SelectCgroupPath = %q, %v, want %q, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestSelectCgroupPathFixture(t *testing.T) {
	entries, err := ReadCgroup(fixtureRoot, 3668)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := SelectCgroupPath(entries)
	const want = "/process_api/dc9d8d7040e4032fdeb8ef79dae622a8"
	if !ok || got != want {
		t.Errorf("SelectCgroupPath = %q, %v, want %q, true", got, ok, want)
	}
}
