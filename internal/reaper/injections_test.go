package reaper

import (
	"testing"
	"time"
)

func TestInjectionsTake(t *testing.T) {
	var in Injections
	now := time.Now()
	in.add(100, 7, now)
	if in.Take(100, 7, InjectedOptions&^0x1) {
		t.Error("a call with other options was taken for the injected one")
	}
	if in.Take(101, 7, InjectedOptions) {
		t.Error("a call in another parent was taken for the injected one")
	}
	if !in.Take(100, 7, InjectedOptions) {
		t.Error("the injected call was not recognised")
	}
	if in.Take(100, 7, InjectedOptions) {
		t.Error("the injected call was taken twice")
	}
}

func TestInjectionsExpire(t *testing.T) {
	var in Injections
	start := time.Now()
	in.add(100, 7, start)
	in.add(200, 8, start.Add(injectionTTL+time.Second))
	if in.Take(100, 7, InjectedOptions) {
		t.Error("a call older than the TTL was kept")
	}
	if !in.Take(200, 8, InjectedOptions) {
		t.Error("the recent call was dropped")
	}
}
