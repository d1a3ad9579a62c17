package main

import (
	"testing"

	"github.com/awnumar/memguard"

	"github.com/vmkit/vmkit/secret"
)

// BenchmarkCreateDestroy32 creates and destroys one 32-byte secret per
// operation.
func BenchmarkCreateDestroy32(b *testing.B) {
	b.Run("secret-packed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := secret.New(32)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Destroy(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("secret-standalone", func(b *testing.B) {
		b.ReportAllocs()
		o := secret.Options{Standalone: true}
		for b.Loop() {
			s, err := o.New(32)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Destroy(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("memguard", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			memguard.NewBuffer(32).Destroy()
		}
	})
}

// BenchmarkHold10000Keys holds 10,000 keys of 32 bytes at once and reports
// the mappings, locked and resident memory they add, per 10,000 keys.
func BenchmarkHold10000Keys(b *testing.B) {
	for _, c := range contenders() {
		if c.name == "secret standalone" {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			var f Footprint
			for b.Loop() {
				var err error
				if f, err = Hold(c, 10000); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(f.Maps), "maps")
			b.ReportMetric(float64(f.Locked)/(1<<10), "KiB-locked")
			b.ReportMetric(float64(f.Resident)/(1<<10), "KiB-rss")
		})
	}
}
