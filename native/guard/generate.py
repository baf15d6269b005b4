#!/usr/bin/env python3
"""Generates forwarders.generated.cpp: one guarded forwarder per function exported by TorchSharp's libLibTorchSharp.so.

Reads TorchSharp's own native sources (src/Native/LibTorchSharp: the EXPORT_API declarations in its headers, the
definitions in its .cpp files) and the dynamic symbol table of the shipped library (nm -D --defined-only), and writes:

- a forwarder for every exported function that has a header declaration: the same x86-64 SysV signature (every
  parameter and return type classified below, an unknown type stops the generator), calling the original through a
  table of addresses inside try/catch (see guard.hpp);
- a plain jump through the same table for an exported function without a declaration (no try/catch is possible without
  a signature: they are listed in the output, and the generator fails if one of them is a THS* function);
- the counts the note docs/notes/native-fix.md quotes: functions forwarded, and how many of them have no catch of their
  own in the sources (no CATCH macro or try block in their body, nor in a helper their body calls).

Usage (Python 3 standard library only; nm from binutils):

  python3 native/guard/generate.py --git-dir /path/to/TorchSharp/.git --rev <0.107.0 commit> \
      --library ~/.nuget/packages/torchsharp/0.107.0/runtimes/linux-x64/native/libLibTorchSharp.so
  python3 native/guard/generate.py --source /path/to/TorchSharp/src/Native/LibTorchSharp --library ...
"""

import argparse
import os
import re
import subprocess
import sys

NATIVE = "src/Native/LibTorchSharp"

# Functions whose forwarder guard.cpp writes by hand (still resolved through the table).
HAND_WRITTEN = {"THSTorch_get_and_reset_last_err", "THSTorch_dispose_scalar"}

# Opaque handles (typedefs to pointers in Utils.h, THSExport.h): passed as pointers, INTEGER class, 8 bytes.
HANDLES = {
    "Tensor", "Scalar", "Generator", "Storage", "PackedSequence", "SavedVariable", "NNModule", "NNAnyModule",
    "Optimizer", "JITCompilationUnit", "JITModule", "JITMethod", "JITFunction", "JITType", "JITTensorType",
    "ExportedProgramModule",
}

# Scalar types by value: the C type the forwarder uses (same size, class and signedness; bool and the 8/16-bit integers
# are returned in the low bits of rax, float and double in xmm0, so the width and float/double matter).
SCALARS = {
    "bool": "bool", "char": "char", "int8_t": "int8_t", "uint8_t": "uint8_t", "int16_t": "int16_t",
    "uint16_t": "uint16_t", "int": "int32_t", "int32_t": "int32_t", "uint32_t": "uint32_t", "int64_t": "int64_t",
    "uint64_t": "uint64_t", "size_t": "uint64_t", "ptrdiff_t": "int64_t", "float": "float", "double": "double",
}

# Structs passed or returned by value: their fields as the header spells them, and the identical layout guard.hpp
# declares (two pointer-sized INTEGER eightbytes: passed in two registers, returned in rax:rdx). The generator checks
# the header still declares exactly these fields.
STRUCTS = {
    "TensorArray": ("Tensor *array; int64_t size;", "imle_guard::TensorArray"),
    "CSharpNodePtr": (
        "std::shared_ptr<CSharpNode> *shared_ptr; std::weak_ptr<CSharpNode> *weak_ptr;",
        "imle_guard::CSharpNodePtr",
    ),
}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def balanced(text, start, open_ch, close_ch):
    """Index just past the bracket that closes the one at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_ch:
            depth += 1
        elif text[i] == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
    raise SystemExit("unbalanced %s%s at offset %d" % (open_ch, close_ch, start))


def split_top(params):
    parts, depth, cur = [], 0, ""
    for ch in params:
        if ch in "(<[":
            depth += 1
        elif ch in ")>]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [" ".join(p.split()) for p in parts if p.strip()]


def classify(spelled, where):
    """The C type a forwarder uses for a parameter or return type as the header spells it (without the name)."""
    t = " ".join(spelled.replace("const ", " ").split())
    if t.endswith("*") or t.endswith("&"):
        return "void*"
    if t in HANDLES:
        return "void*"
    if t in SCALARS:
        return SCALARS[t]
    if t in STRUCTS:
        return STRUCTS[t][1]
    if t == "void":
        return "void"
    raise SystemExit("generate.py: unknown type '%s' in %s: classify it (pointer, integer width, float/double or a "
                     "struct by value) before generating" % (spelled, where))


def parse_param(p, where):
    """(C type, name) of one parameter; function pointers and arrays become pointers; default values are dropped."""
    p = p.split("=")[0].strip()
    if p == "void":
        return "void", "void"
    if "..." in p:
        raise SystemExit("generate.py: %s is variadic; a forwarder cannot pass varargs on" % where)
    if "(" in p:  # a function pointer: Tensor* (*allocator)(size_t length)
        m = re.search(r"\(\s*\*\s*(\w+)\s*\)", p)
        if not m:
            raise SystemExit("generate.py: cannot read the function-pointer parameter '%s' in %s" % (p, where))
        return "void*", m.group(1)
    m = re.match(r"^(.*?)(\w+)\s*(\[\s*\])?$", p)
    if not m or not m.group(1).strip():
        raise SystemExit("generate.py: cannot read the parameter '%s' in %s" % (p, where))
    spelled = m.group(1).strip() + (" *" if m.group(3) else "")
    return classify(spelled, where), m.group(2)


def declarations(headers):
    """name -> (return C type, [(C type, name)]) from every EXPORT_API declaration."""
    found = {}
    for path, text in headers:
        text = strip_comments(text)
        for m in re.finditer(r"EXPORT_API\s*\(([^)]*)\)\s*(\w+)\s*\(", text):
            name = m.group(2)
            end = balanced(text, m.end() - 1, "(", ")")
            where = "%s (%s)" % (name, os.path.basename(path))
            ret = classify(m.group(1).strip(), where)
            params = [parse_param(p, where) for p in split_top(text[m.end():end - 1])]
            if params == [("void", "void")] or (len(params) == 1 and params[0][1] == "void"):
                params = []
            if name in found and found[name] != (ret, params):
                raise SystemExit("generate.py: %s is declared twice with different signatures" % name)
            found[name] = (ret, params)
    return found


def check_structs(headers):
    text = strip_comments("\n".join(t for _, t in headers))
    for name, (fields, _) in STRUCTS.items():
        m = re.search(r"struct\s+%s\s*\{([^}]*)\}" % name, text)
        if not m:
            raise SystemExit("generate.py: struct %s is not declared in the headers any more" % name)
        got = " ".join(m.group(1).split())
        if got != fields:
            raise SystemExit("generate.py: struct %s changed: '%s' (expected '%s')" % (name, got, fields))


def bodies(sources):
    """name -> body text of every function defined at the top level of the .cpp/.h sources (last one wins)."""
    result = {}
    for _, text in sources:
        text = strip_comments(text)
        for m in re.finditer(r"\b(\w+)\s*\(", text):
            name = m.group(1)
            if name in ("if", "for", "while", "switch", "return", "catch", "sizeof", "CATCH"):
                continue
            try:
                close = balanced(text, m.end() - 1, "(", ")")
            except SystemExit:
                continue
            rest = text[close:close + 200]
            mm = re.match(r"\s*(const\s*)?(override\s*)?\{", rest)
            if mm:
                start = close + mm.end() - 1
                result[name] = text[start:balanced(text, start, "{", "}")]
    return result


def catches(name, all_bodies, seen=None):
    """Whether a function catches exceptions itself: a CATCH macro or try block in its body, or in a helper it calls."""
    seen = seen if seen is not None else set()
    if name in seen or name not in all_bodies:
        return False
    seen.add(name)
    body = all_bodies[name]
    if re.search(r"\bCATCH\w*\s*\(|\btry\s*\{", body):
        return True
    for callee in set(re.findall(r"\b(\w+)\s*(?:<[^;{}()]*>)?\s*\(", body)):
        if callee != name and not callee.startswith("THS") and catches(callee, all_bodies, seen):
            return True
    return False


def exported(library):
    out = subprocess.run(["nm", "-D", "--defined-only", library], check=True, capture_output=True, text=True).stdout
    return sorted({line.split()[2] for line in out.splitlines() if len(line.split()) == 3 and line.split()[1] == "T"})


def read_sources(args):
    files = []
    if args.git_dir:
        listing = subprocess.run(["git", "--git-dir", args.git_dir, "ls-tree", "--name-only", args.rev, NATIVE + "/"],
                                 check=True, capture_output=True, text=True).stdout.split()
        for path in listing:
            if path.endswith((".h", ".cpp")):
                text = subprocess.run(["git", "--git-dir", args.git_dir, "show", "%s:%s" % (args.rev, path)],
                                      check=True, capture_output=True, text=True).stdout
                files.append((path, text))
        commit = subprocess.run(["git", "--git-dir", args.git_dir, "rev-parse", args.rev], check=True,
                                capture_output=True, text=True).stdout.strip()
        origin = "dotnet/TorchSharp commit %s" % commit
    else:
        for f in sorted(os.listdir(args.source)):
            if f.endswith((".h", ".cpp")):
                with open(os.path.join(args.source, f), encoding="utf-8") as fh:
                    files.append((f, fh.read()))
        origin = "TorchSharp sources in %s" % os.path.basename(os.path.normpath(args.source))
    if not files:
        raise SystemExit("generate.py: no TorchSharp native sources found")
    return files, origin


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--git-dir")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--source")
    ap.add_argument("--library", required=True)
    ap.add_argument("--version", default="0.107.0")
    ap.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "forwarders.generated.cpp"))
    args = ap.parse_args()
    if not (args.git_dir or args.source):
        ap.error("give --git-dir (with --rev) or --source")

    files, origin = read_sources(args)
    headers = [(p, t) for p, t in files if p.endswith(".h")]
    check_structs(headers)
    decls = declarations(headers)
    all_bodies = bodies(files)
    symbols = exported(args.library)

    unsigned = [s for s in symbols if s not in decls]
    unsigned_ths = [s for s in unsigned if s.startswith("THS")]
    if unsigned_ths:
        raise SystemExit("generate.py: exported THS functions without a header declaration (no signature, so no "
                         "catch): %s" % ", ".join(unsigned_ths))
    missing_in_library = sorted(set(decls) - set(symbols))
    for name in HAND_WRITTEN:
        if name not in symbols:
            raise SystemExit("generate.py: %s is not exported by the library" % name)

    signed = [s for s in symbols if s in decls]
    no_catch = [s for s in signed if not catches(s, all_bodies)]
    no_body = [s for s in signed if s not in all_bodies]

    lines = []
    w = lines.append
    w("// GENERATED by native/guard/generate.py from %s (TorchSharp %s) and the dynamic symbols" % (origin, args.version))
    w("// of its libLibTorchSharp.so. Do not edit: run the generator again (see its usage).")
    w("//")
    w("// Exported functions: %d; forwarded inside try/catch: %d (%d of them by hand in guard.cpp: %s);" % (
        len(symbols), len(signed), len(HAND_WRITTEN), ", ".join(sorted(HAND_WRITTEN))))
    w("// forwarded by a plain jump (exported, no declaration, not THS*): %d (%s)." % (
        len(unsigned), ", ".join(unsigned) or "none"))
    w("// Forwarded functions with no catch of their own in the sources (no CATCH/try in the body or a helper it calls): %d." % len(no_catch))
    w("// Declared in the headers but not exported (skipped): %d (%s)." % (
        len(missing_in_library), ", ".join(missing_in_library) or "none"))
    if no_body:
        w("// Declared and exported, body not found in the sources (counted as without a catch): %d." % len(no_body))
    w("")
    w('#include "guard.hpp"')
    w("")
    w("namespace imle_guard {")
    w("const int function_count = %d;" % len(symbols))
    w("const char* const function_names[%d] = {" % len(symbols))
    for s in symbols:
        w('    "%s",' % s)
    w("};")
    w("}  // namespace imle_guard")
    w("")
    w("extern \"C\" {")
    for index, s in enumerate(symbols):
        if s in HAND_WRITTEN:
            w("// %s: guard.cpp (index %d)" % (s, index))
            continue
        if s not in decls:
            w("IMLE_GUARD_JUMP(%s, %d)" % (s, index))
            continue
        ret, params = decls[s]
        sig = ", ".join("%s a%d" % (t, i) for i, (t, _) in enumerate(params))
        types = ", ".join(t for t, _ in params)
        call = ", ".join("a%d" % i for i in range(len(params)))
        w("IMLE_GUARD_EXPORT %s %s(%s) { IMLE_GUARD_FORWARD(%d, %s, (%s), (%s)) }" % (
            ret, s, sig, index, ret, types, call))
    w("}")
    w("")
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")

    print("generate.py: %d exported functions; %d forwarded inside try/catch, %d by a plain jump (%s); "
          "%d of the forwarded ones have no catch of their own in the sources; %d declared but not exported; wrote %s"
          % (len(symbols), len(signed), len(unsigned), ", ".join(unsigned) or "none", len(no_catch),
             len(missing_in_library), args.output))
    if os.environ.get("IMLE_GUARD_LIST_NO_CATCH"):
        for s in no_catch:
            print("  no catch:", s)


if __name__ == "__main__":
    sys.exit(main())
