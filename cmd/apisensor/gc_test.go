package main

import "testing"

func TestChooseGC(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	tests := []struct {
		name   string
		env    map[string]string
		cgroup int64
		want   gcSettings
	}{
		{"defaults, no cgroup limit", nil, 0, gcSettings{defaultGCPercent, defaultMemLimit}},
		{"small container", nil, 512 << 20, gcSettings{defaultGCPercent, 384 << 20}},
		{"big container keeps the cap", nil, 64 << 30, gcSettings{defaultGCPercent, defaultMemLimit}},
		{"GOGC wins", map[string]string{"GOGC": "100"}, 0, gcSettings{0, defaultMemLimit}},
		{"GOMEMLIMIT wins", map[string]string{"GOMEMLIMIT": "4GiB"}, 512 << 20, gcSettings{defaultGCPercent, 0}},
		{"both set", map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, 0, gcSettings{}},
	}
	for _, tc := range tests {
		if got := chooseGC(env(tc.env), tc.cgroup); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestParseCgroupLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"max\n":                 0,
		"9223372036854771712\n": 0, // v1: unlimited
		"536870912\n":           536870912,
		"":                      0,
		"-1":                    0,
		"junk":                  0,
	} {
		if got := parseCgroupLimit(in); got != want {
			t.Errorf("parseCgroupLimit(%q) = %d, want %d", in, got, want)
		}
	}
}
