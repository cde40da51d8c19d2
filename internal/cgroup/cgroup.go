// Package cgroup resolves cgroup v2 IDs, which the kernel side records, to
// cgroup paths.
package cgroup

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Resolver maps cgroup IDs to paths below the cgroup v2 mount. On 64-bit
// kernels a cgroup's ID is the inode number of its directory.
type Resolver struct {
	root     string // cgroup2 mount point; "" when there is none
	paths    map[uint64]string
	lastWalk time.Time
}

// minRewalk limits how often an unknown ID triggers a walk of the tree.
const minRewalk = time.Second

// NewResolver finds the cgroup2 mount in mountinfo (normally
// /proc/self/mountinfo).
func NewResolver(mountinfo string) (*Resolver, error) {
	root, err := findCgroup2(mountinfo)
	if err != nil {
		return nil, err
	}
	return &Resolver{root: root, paths: make(map[uint64]string)}, nil
}

// Root returns the cgroup2 mount point, or "" when none is mounted.
func (r *Resolver) Root() string { return r.root }

// Path returns the path of cgroup id relative to the cgroup2 root, like
// "/system.slice/docker-1234.scope", and false when it is not found.
func (r *Resolver) Path(id uint64) (string, bool) {
	if r.root == "" || id == 0 {
		return "", false
	}
	if p, ok := r.paths[id]; ok {
		return p, true
	}
	if time.Since(r.lastWalk) < minRewalk {
		return "", false
	}
	r.walk()
	p, ok := r.paths[id]
	return p, ok
}

func (r *Resolver) walk() {
	r.lastWalk = time.Now()
	_ = filepath.WalkDir(r.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel := strings.TrimPrefix(path, r.root)
		if rel == "" {
			rel = "/"
		}
		r.paths[st.Ino] = rel
		return nil
	})
}

func findCgroup2(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// Fields: ID parent major:minor root mountpoint options... - fstype
		fields := strings.Fields(s.Text())
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	return "", s.Err()
}
