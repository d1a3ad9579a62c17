package doccheck_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// publicDirs returns the directories of the module's public packages:
// everything but internal/, bench/ (its own module), testdata and examples.
func publicDirs(t *testing.T, root string) []string {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case rel == ".":
			return nil
		case strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || rel == "internal" || rel == "bench" || rel == "examples" || rel == "docs":
			return filepath.SkipDir
		}
		dirs = append(dirs, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func TestExportedNamesHaveDocs(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	checked := 0
	for _, dir := range publicDirs(t, root) {
		fset := token.NewFileSet()
		// The package's files, by package name (a directory may hold an
		// external test package only in _test files, which are skipped).
		pkgs := map[string][]*ast.File{}
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, fn := range names {
			if strings.HasSuffix(fn, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, fn, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			pkgs[f.Name.Name] = append(pkgs[f.Name.Name], f)
		}
		for pkgName, files := range pkgs {
			if pkgName == "main" {
				continue
			}
			checked++
			hasPkgDoc := false
			for _, f := range files {
				if f.Doc != nil {
					hasPkgDoc = true
				}
				for _, miss := range undocumented(f) {
					t.Errorf("%s: exported %s has no doc comment", fset.Position(miss.Pos()), name(miss))
				}
			}
			if !hasPkgDoc {
				t.Errorf("package %s (%s) has no package comment", pkgName, dir)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package checked")
	}
}

func name(n ast.Node) string {
	switch n := n.(type) {
	case *ast.FuncDecl:
		return n.Name.Name
	case *ast.TypeSpec:
		return n.Name.Name
	case *ast.ValueSpec:
		return n.Names[0].Name
	case *ast.Field:
		return n.Names[0].Name
	}
	return "?"
}

// undocumented lists the exported declarations of f without a doc comment.
// A const or var group's comment covers its members; methods of unexported
// types are skipped.
func undocumented(f *ast.File) []ast.Node {
	var out []ast.Node
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() || d.Doc != nil {
				continue
			}
			if d.Recv != nil && len(d.Recv.List) > 0 && !ast.IsExported(recvName(d.Recv.List[0].Type)) {
				continue
			}
			out = append(out, d)
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() && s.Doc == nil && d.Doc == nil {
						out = append(out, s)
					}
				case *ast.ValueSpec:
					if s.Names[0].IsExported() && s.Doc == nil && d.Doc == nil && s.Comment == nil {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	}
	return ""
}
