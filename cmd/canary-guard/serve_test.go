package main

import "testing"

func TestGCPercent_FlagThenEnvironmentThenDefault(t *testing.T) {
	tests := []struct {
		name           string
		flagValue      int
		flagGiven, env bool
		want           int
		wantApplied    bool
	}{
		{name: "neither: serve's default", flagValue: defaultGCPercent, want: defaultGCPercent, wantApplied: true},
		{name: "GOGC set: the runtime's setting stays", flagValue: defaultGCPercent, env: true},
		{name: "flag given: it wins over GOGC", flagValue: 150, flagGiven: true, env: true, want: 150, wantApplied: true},
		{name: "flag given without GOGC", flagValue: 100, flagGiven: true, want: 100, wantApplied: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, applied := gcPercent(tt.flagValue, tt.flagGiven, tt.env)
			if applied != tt.wantApplied || (applied && got != tt.want) {
				t.Errorf("gcPercent(%d, %v, %v) = %d, %v; want %d, %v", tt.flagValue, tt.flagGiven, tt.env, got, applied, tt.want, tt.wantApplied)
			}
		})
	}
}

func TestGoMemoryLimit_LeavesHeadroomUnlessGOMEMLIMITIsSet(t *testing.T) {
	tests := []struct {
		name        string
		limit       int64
		env         bool
		want        int64
		wantApplied bool
	}{
		{name: "a 256 MiB container: 90 % of it", limit: 256 << 20, want: 241591910, wantApplied: true},
		{name: "GOMEMLIMIT set: the runtime's setting stays", limit: 256 << 20, env: true},
		{name: "no limit given", limit: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, applied := goMemoryLimit(tt.limit, tt.env)
			if applied != tt.wantApplied || got != tt.want {
				t.Errorf("goMemoryLimit(%d, %v) = %d, %v; want %d, %v", tt.limit, tt.env, got, applied, tt.want, tt.wantApplied)
			}
		})
	}
}
