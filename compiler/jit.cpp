// jit.cpp - the in-process LLVM JIT behind `dlc run`: clang embedded in dlc
// compiles the generated C from memory, ORC's LLJIT links the machine code
// into this process.  See jit.h.
//
//   C source (memory)
//     --clang driver--> a cc1 invocation: the flags of an AOT build
//       (-O3 -std=c11 -ffp-contract=fast -march=native, and --cflags)
//     --clang frontend--> an llvm::Module, LLVM passes held back
//     --LLVM verifier, check of the symbols it needs from this process-->
//     --clang's O3 pipeline and code generator (EmitBackendOutput, as in
//       `clang -c`), on one thread per partition of the module (below)-->
//       object files in memory
//     --LLJIT (RuntimeDyld), process symbol generator--> the model
//       descriptor <name>_model, handed to dlrt_main by the driver
//
// The shared dlc_* helpers are a partition of their own, and with a cache
// directory every object file is kept there (see "the cache" below): a model
// compiled before skips everything up to the LLJIT.  A model that is not in
// the cache is compiled twice ("two tiers" below): without optimisation first,
// which training starts on, then with O3 on a background thread, which takes
// over each function at its next call.
#include "jit.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Basic/TargetInfo.h>
#include <clang/Basic/TargetOptions.h>
#include <clang/CodeGen/BackendUtil.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <clang/Frontend/Utils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/ErrorHandling.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SHA1.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Support/xxhash.h>

#ifndef DLC_CLANG_EXECUTABLE
#define DLC_CLANG_EXECUTABLE "clang"
#endif

namespace {

double now_s()
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double cpu_s()
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void set_err(char *err, size_t errlen, const std::string &msg)
{
	if (!err || !errlen)
		return;
	std::string m = msg;
	while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
		m.pop_back();
	snprintf(err, errlen, "%s", m.c_str());
}

// LLVM calls this on errors it cannot recover from (e.g. a back-end
// failure): a clear message and exit status 1, not an abort.
void fatal_handler(void *, const char *reason, bool)
{
	fflush(stdout);
	fprintf(stderr, "dlc run: LLVM JIT error: %s\n", reason);
	fflush(stderr);
	_exit(1);
}

void init_llvm()
{
	static bool done;
	if (done)
		return;
	done = true;
	llvm::InitializeNativeTarget();
	llvm::InitializeNativeTargetAsmPrinter();
	llvm::InitializeNativeTargetAsmParser();
	llvm::install_fatal_error_handler(fatal_handler, nullptr);
}

std::vector<std::string> split_lines(const std::string &s)
{
	std::vector<std::string> out;
	size_t a = 0;
	while (a <= s.size()) {
		size_t b = s.find('\n', a);
		if (b == std::string::npos)
			b = s.size();
		out.push_back(s.substr(a, b - a));
		a = b + 1;
	}
	return out;
}

// The generated C defines each function at column 0 with its brace on the
// next line, after a comment that names the graph node it computes and the
// kernel's attribute line:
//   /* t13: %13 = conv2d(x, K1) [64, 6, 28, 28] */
//   DLC_KERNEL
//   static void t13_conv2d(int64_t n)
//   {
// Name of the function whose definition starts at line i (0-based), or "".
std::string defined_at(const std::vector<std::string> &lines, size_t i)
{
	const std::string &l = lines[i];
	if (l.empty() || !(isalpha((unsigned char)l[0]) || l[0] == '_') || l.find(';') != std::string::npos)
		return "";
	size_t p = l.find('(');
	if (p == std::string::npos || p == 0)
		return "";
	size_t e = p;
	while (e > 0 && l[e - 1] == ' ')
		e--;
	size_t b = e;
	while (b > 0 && (isalnum((unsigned char)l[b - 1]) || l[b - 1] == '_'))
		b--;
	if (b == e || b == 0)
		return "";
	// the body opens on this line or (after continuation lines) below
	for (size_t k = i; k < lines.size() && k < i + 4; k++) {
		if (!lines[k].empty() && lines[k][0] == '{')
			return l.substr(b, e - b);
		if (lines[k].find(';') != std::string::npos)
			return "";
	}
	return "";
}

// "kernel t13_conv2d (%13 = conv2d(x, K1) [64, 6, 28, 28])" for a function of
// the generated C, "function dlc_ukr" for a helper.
std::string describe_function(const std::vector<std::string> &lines, const std::string &name)
{
	for (size_t i = 0; i < lines.size(); i++) {
		if (defined_at(lines, i) != name)
			continue;
		size_t j = i;
		if (j > 0 && lines[j - 1].compare(0, 10, "DLC_KERNEL") == 0)
			j--; // the kernel's attribute line (DLC_KERNEL, DLC_KERNEL_SELECTS)
		if (j > 0) {
			const std::string &c = lines[j - 1];
			size_t a = c.find("/* "), z = c.rfind(" */");
			if (a == 0 && z != std::string::npos && z > 3) {
				std::string what = c.substr(3, z - 3);
				size_t colon = what.find(": ");
				if (colon != std::string::npos && what.compare(0, colon, name.substr(0, colon)) == 0)
					what = what.substr(colon + 2);
				return "kernel " + name + " (" + what + ")";
			}
		}
		return "function " + name;
	}
	return "function " + name;
}

// Which function of the generated C holds 1-based line `line`.
std::string function_at_line(const std::vector<std::string> &lines, unsigned line)
{
	if (line == 0 || line > lines.size())
		return "";
	for (size_t i = line; i-- > 0;) {
		std::string n = defined_at(lines, i);
		if (!n.empty())
			return n;
		if (!lines[i].empty() && lines[i][0] == '}' && i + 1 < line)
			return ""; // between functions
	}
	return "";
}

// Collects clang's diagnostics as text (with the source line and caret)
// and remembers where the first error is in the generated file.
class Collector : public clang::DiagnosticConsumer {
public:
	Collector(clang::DiagnosticOptions *opts, const std::string &file)
	    : os(text), printer(os, opts), file(file)
	{
	}
	void BeginSourceFile(const clang::LangOptions &lo, const clang::Preprocessor *pp) override
	{
		printer.BeginSourceFile(lo, pp);
	}
	void EndSourceFile() override { printer.EndSourceFile(); }
	void HandleDiagnostic(clang::DiagnosticsEngine::Level level, const clang::Diagnostic &info) override
	{
		clang::DiagnosticConsumer::HandleDiagnostic(level, info);
		printer.HandleDiagnostic(level, info);
		if (level >= clang::DiagnosticsEngine::Error && !first_line && info.getLocation().isValid() &&
		    info.hasSourceManager()) {
			const clang::SourceManager &sm = info.getSourceManager();
			clang::PresumedLoc p = sm.getPresumedLoc(sm.getFileLoc(info.getLocation()));
			if (p.isValid() && file == p.getFilename())
				first_line = p.getLine();
		}
	}
	std::string message()
	{
		os.flush();
		return text;
	}

	std::string text;
	llvm::raw_string_ostream os;
	clang::TextDiagnosticPrinter printer;
	std::string file;
	unsigned first_line = 0;
};

// The one vector ISA (and FMA) worth naming in a message.
std::string summarize_target(const std::string &cpu, const std::vector<std::string> &features)
{
	std::set<std::string> on;
	for (const std::string &f : features)
		if (!f.empty() && f[0] == '+')
			on.insert(f.substr(1));
	std::string s = cpu.empty() ? "generic" : cpu;
	for (const char *isa : {"avx512f", "avx2", "avx", "sse4.2", "sse2", "neon", "sve"})
		if (on.count(isa)) {
			s += std::string(" +") + isa;
			break;
		}
	if (on.count("fma"))
		s += " +fma";
	return s;
}

// ---- compiling on several threads ----
//
// The generated C is one module: entry points (forward, gradients,
// train_step, referenced by the model descriptor) that call one kernel
// function each, kernels that call small static helpers, and the model's
// arrays.  The entry points and kernels ("roots") are shared out among the
// partitions, the heaviest first to the least loaded; every partition gets
// its own copy of the helpers its roots call (they are inlined anyway), of
// the constant globals they read (e.g. `float *const t13 = arena + 0`, so
// the optimizer still sees which array a pointer points into) and
// declarations of everything else.  Partition 0 defines the arrays and the
// descriptor.  The roots and writable arrays become external symbols, so the
// objects link with each other; nothing else changes: each partition goes
// through the same clang O3 pipeline and code generator as the whole file.

unsigned jit_threads()
{
	if (const char *e = getenv("DLC_JIT_THREADS")) {
		int n = atoi(e);
		if (n >= 1)
			return (unsigned)std::min(n, 64);
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	// the processors other programs leave idle (this one counts as idle):
	// on a busy machine more threads only add the cost of the split.  The
	// runnable threads now (/proc/loadavg's fourth field, this one among
	// them), not the load average, which lags a minute behind a machine
	// that has just gone idle.
	long running = -1;
	if (FILE *f = fopen("/proc/loadavg", "r")) {
		double l1, l5, l15;
		long total;
		if (fscanf(f, "%lf %lf %lf %ld/%ld", &l1, &l5, &l15, &running, &total) != 5)
			running = -1;
		fclose(f);
	}
	double load;
	if (running >= 1)
		n = std::min(n, n + 1 - running);
	else if (getloadavg(&load, 1) == 1 && load > 1)
		n = std::min(n, n + 1 - (long)(load + 0.5));
	return (unsigned)std::max(1L, std::min(n, 32L));
}

struct Plan {
	unsigned parts = 1;
	int helper_part = -1;                        // the partition of the shared helpers, if any
	std::map<std::string, unsigned> owner;       // root function -> partition
	std::vector<std::vector<std::string>> roots; // per partition, heaviest first
	std::vector<double> load;                    // estimated cost per partition

	// " (on kernel a, kernel b and 3 more)" for messages
	std::string describe(unsigned p, const std::vector<std::string> &lines) const
	{
		if (parts <= 1 || p >= roots.size() || roots[p].empty())
			return "";
		std::string s = " (compiling ";
		size_t n = std::min<size_t>(roots[p].size(), 2);
		for (size_t i = 0; i < n; i++)
			s += (i ? ", " : "") + describe_function(lines, roots[p][i]);
		if (roots[p].size() > n)
			s += " and " + std::to_string(roots[p].size() - n) + " more";
		return s + ")";
	}
};

bool direct_call(const llvm::Use &u)
{
	auto *cb = llvm::dyn_cast<llvm::CallBase>(u.getUser());
	return cb && cb->isCallee(&u);
}

size_t count_instructions(const llvm::Function &f)
{
	size_t n = 0;
	for (const llvm::BasicBlock &bb : f)
		n += bb.size();
	return n;
}

// The helpers that the generated C includes ahead of its kernels
// (runtime/dlrt_kernels.h), named dlc_* (the register-tiled micro-kernels
// dlc_ukr, dlc_cukr, dlc_wukr, the packing routines), are most of the work of compiling a model when every
// kernel inlines its own copies.  Those worth compiling once (local, only
// called, not declared inline, not tiny) go to a partition of their own,
// which the kernels call, so that it can be cached apart from the model: it
// is the same for every model of the same element type on the same CPU.
const size_t kHelperMinInstructions = 40;

bool shared_helper(const llvm::Function &f)
{
	if (f.isDeclaration() || !f.hasLocalLinkage() || !f.getName().startswith("dlc_") ||
	    f.hasFnAttribute(llvm::Attribute::InlineHint) || f.hasFnAttribute(llvm::Attribute::AlwaysInline) ||
	    count_instructions(f) < kHelperMinInstructions)
		return false;
	for (const llvm::Use &u : f.uses())
		if (!direct_call(u))
			return false;
	return true;
}

// data_apart: partition 0 holds no roots, only the arrays and the
// descriptor (the tiered compilation below links it with code compiled
// twice).
Plan make_plan(llvm::Module &m, unsigned threads, bool outline_helpers, bool data_apart)
{
	Plan plan;
	std::set<llvm::Function *> roots;
	std::vector<llvm::Function *> entries, helpers;
	for (llvm::Function &f : m) {
		if (f.isDeclaration())
			continue;
		if (outline_helpers && shared_helper(f)) {
			helpers.push_back(&f);
			continue;
		}
		bool entry = !f.hasLocalLinkage();
		for (const llvm::Use &u : f.uses())
			entry = entry || !direct_call(u);
		if (entry) {
			entries.push_back(&f);
			roots.insert(&f);
		}
	}
	for (llvm::Function *f : entries)
		for (llvm::BasicBlock &bb : *f)
			for (llvm::Instruction &i : bb)
				if (auto *cb = llvm::dyn_cast<llvm::CallBase>(&i))
					if (llvm::Function *g = cb->getCalledFunction())
						if (!g->isDeclaration() && std::find(helpers.begin(), helpers.end(), g) == helpers.end())
							roots.insert(g);
	std::set<llvm::Function *> apart(roots);
	apart.insert(helpers.begin(), helpers.end());
	// cost: instructions, with those of the helpers each call inlines
	std::map<llvm::Function *, double> memo;
	std::function<double(llvm::Function *, int)> cost = [&](llvm::Function *f, int depth) -> double {
		auto it = memo.find(f);
		if (it != memo.end())
			return it->second;
		double c = 0;
		for (llvm::BasicBlock &bb : *f) {
			c += (double)bb.size();
			for (llvm::Instruction &i : bb)
				if (auto *cb = llvm::dyn_cast<llvm::CallBase>(&i))
					if (llvm::Function *g = cb->getCalledFunction())
						if (!g->isDeclaration() && !apart.count(g) && g != f && depth < 16)
							c += cost(g, depth + 1);
		}
		memo[f] = c;
		return c;
	};
	std::vector<std::pair<double, std::string>> work;
	double total = 0;
	for (llvm::Function *f : roots) {
		double c = 150 + cost(f, 0); // and what every function costs to set up
		work.push_back({c, f->getName().str()});
		total += c;
	}
	unsigned parts = (unsigned)std::min<size_t>(threads, work.size());
	// a small model compiles faster in one piece
	if (total < 4000)
		parts = 1;
	if (parts <= 1 && helpers.empty() && !data_apart)
		return plan;
	parts = std::max(parts, 1u);
	const unsigned first = data_apart ? 1 : 0;
	std::sort(work.begin(), work.end(), [](const std::pair<double, std::string> &a,
	                                       const std::pair<double, std::string> &b) {
		return a.first != b.first ? a.first > b.first : a.second < b.second;
	});
	std::vector<double> load(parts + first, 0.0);
	plan.roots.resize(parts + first);
	for (auto &w : work) {
		unsigned best = first;
		for (unsigned p = first + 1; p < parts + first; p++)
			if (load[p] < load[best])
				best = p;
		load[best] += w.first;
		plan.owner[w.second] = best;
		plan.roots[best].push_back(w.second);
	}
	parts += first;
	plan.parts = parts;
	plan.load = load;
	if (!helpers.empty()) {
		plan.helper_part = (int)parts;
		plan.roots.emplace_back();
		double c = 0;
		for (llvm::Function *f : helpers) {
			plan.owner[f->getName().str()] = parts;
			plan.roots[parts].push_back(f->getName().str());
			c += 150 + cost(f, 0);
		}
		plan.load.push_back(c);
		plan.parts = parts + 1;
	}
	return plan;
}

// Before the split: roots and writable globals get external linkage, so
// that one partition can define them and the others use them.
void promote(llvm::Module &m, const Plan &plan)
{
	for (auto &kv : plan.owner) {
		llvm::Function *f = m.getFunction(kv.first);
		if (f && f->hasLocalLinkage()) {
			f->setLinkage(llvm::GlobalValue::ExternalLinkage);
			f->setVisibility(llvm::GlobalValue::DefaultVisibility);
		}
	}
	for (llvm::GlobalVariable &g : m.globals()) {
		if (g.isDeclaration() || g.isConstant() || !g.hasLocalLinkage() || g.getName().startswith("llvm."))
			continue;
		if (!g.hasName())
			g.setName("dlc.jit.var");
		g.setLinkage(llvm::GlobalValue::ExternalLinkage);
		g.setVisibility(llvm::GlobalValue::DefaultVisibility);
	}
}

// The arrays and the descriptor (every global the module exports) become
// declarations: partition 0 defines them.
void declare_data(llvm::Module &m)
{
	for (const char *special : {"llvm.used", "llvm.compiler.used", "llvm.global_ctors", "llvm.global_dtors"})
		if (llvm::GlobalVariable *g = m.getNamedGlobal(special))
			g->eraseFromParent();
	for (llvm::GlobalVariable &g : m.globals())
		if (!g.isDeclaration() && !g.hasLocalLinkage()) {
			g.setInitializer(nullptr);
			g.setLinkage(llvm::GlobalValue::ExternalLinkage);
			g.setComdat(nullptr);
			g.setDSOLocal(false);
		}
}

void drop_unused(llvm::Module &m);

// Partition p of the promoted module: its roots and what they need.
void restrict_to(llvm::Module &m, const Plan &plan, unsigned p)
{
	for (llvm::Function &f : m) {
		if (f.isDeclaration())
			continue;
		auto it = plan.owner.find(f.getName().str());
		if (it != plan.owner.end() && it->second != p) {
			f.deleteBody();
			f.setComdat(nullptr);
			f.setDSOLocal(false);
		}
	}
	if (p != 0)
		declare_data(m);
	drop_unused(m);
}

// Drops the local functions and constants nothing here uses, and the
// declarations of what it does not call (so that the helpers' partition
// names nothing of the model).
void drop_unused(llvm::Module &m)
{
	for (bool changed = true; changed;) {
		changed = false;
		for (auto it = m.begin(); it != m.end();) {
			llvm::Function &f = *it++;
			f.removeDeadConstantUsers();
			if ((f.hasLocalLinkage() || f.isDeclaration()) && f.use_empty()) {
				f.eraseFromParent();
				changed = true;
			}
		}
		for (auto it = m.global_begin(); it != m.global_end();) {
			llvm::GlobalVariable &g = *it++;
			g.removeDeadConstantUsers();
			if ((g.hasLocalLinkage() || g.isDeclaration()) && g.use_empty()) {
				g.eraseFromParent();
				changed = true;
			}
		}
	}
}

// ---- two tiers ----
//
// With an empty cache, LLVM's O3 pipeline and code generator take most of
// a second for a convolutional model, and more for larger ones.  `dlc run`
// does not wait for them: the module is compiled twice.
//   data     partition 0 of a plan with the data apart (make_plan): the
//            arrays and the descriptor, defined once;
//   quick    every function, after a few cleanup passes (SROA, early CSE,
//            CFG simplification, instruction combining), through the code
//            generator without optimisation: ready in about a tenth of the
//            time, and training starts on it;
//   O3       the partitions 1.. of the same plan, as an ordinary compilation
//            compiles them, on a background thread, into a JITDylib of
//            their own that links against the first.
// Each root (an entry point, a kernel, a function whose address is taken)
// starts, in the quick code, by loading a slot `dlc.tier2.NAME`: once the
// O3 code is linked, the slots are set to its functions, and the next call
// of each root jumps there.  A step may run partly in one tier and partly
// in the other: both read and write the same arrays, and compute the same
// numbers, since the frontend contracts a*b+c into fused multiply-adds only
// within an expression (-ffp-contract=on, through llvm.fmuladd, which every
// code generator level turns into an FMA) and no pass here reassociates
// floating point.  The O3 objects and the data object go into the cache.

const char kSlotPrefix[] = "dlc.tier2.";

// At the entry of f: if its slot holds a function, tail-call that instead.
void add_redirect(llvm::Module &m, llvm::Function &f)
{
	llvm::LLVMContext &c = m.getContext();
	llvm::PointerType *fp = f.getType();
	auto *slot = new llvm::GlobalVariable(m, fp, false, llvm::GlobalValue::ExternalLinkage,
	                                      llvm::ConstantPointerNull::get(fp), kSlotPrefix + f.getName().str());
	slot->setAlignment(llvm::Align(8));
	llvm::BasicBlock *body = &f.getEntryBlock();
	llvm::BasicBlock *check = llvm::BasicBlock::Create(c, "tier.check", &f, body);
	llvm::BasicBlock *jump = llvm::BasicBlock::Create(c, "tier.jump", &f, body);
	// the fixed-size allocas stay in the entry block
	for (auto it = body->begin(); it != body->end();) {
		llvm::Instruction &i = *it++;
		if (auto *a = llvm::dyn_cast<llvm::AllocaInst>(&i))
			if (a->isStaticAlloca())
				a->moveBefore(*check, check->end());
	}
	llvm::IRBuilder<> b(check);
	llvm::LoadInst *p = b.CreateAlignedLoad(fp, slot, llvm::Align(8), "tier.fn");
	p->setAtomic(llvm::AtomicOrdering::Acquire);
	b.CreateCondBr(b.CreateIsNotNull(p), jump, body);
	b.SetInsertPoint(jump);
	std::vector<llvm::Value *> args;
	for (llvm::Argument &a : f.args())
		args.push_back(&a);
	llvm::CallInst *call = b.CreateCall(f.getFunctionType(), p, args);
	call->setTailCall(true);
	if (f.getReturnType()->isVoidTy())
		b.CreateRetVoid();
	else
		b.CreateRet(call);
}

// The cleanup before the quick code generator: a few passes that cost
// little and make the unoptimised code several times faster (values in
// registers instead of stack slots).  None of them changes a floating-point
// result.
std::string quick_passes(llvm::Module &m)
{
	llvm::PassBuilder pb;
	llvm::LoopAnalysisManager lam;
	llvm::FunctionAnalysisManager fam;
	llvm::CGSCCAnalysisManager cam;
	llvm::ModuleAnalysisManager mam;
	pb.registerModuleAnalyses(mam);
	pb.registerCGSCCAnalyses(cam);
	pb.registerFunctionAnalyses(fam);
	pb.registerLoopAnalyses(lam);
	pb.crossRegisterProxies(lam, fam, cam, mam);
	llvm::ModulePassManager mpm;
	if (llvm::Error e = pb.parsePassPipeline(mpm, "function(sroa,early-cse,simplifycfg,instcombine)"))
		return llvm::toString(std::move(e));
	mpm.run(m, mam);
	return "";
}

// Errors from the back end of one thread (clang's diagnostics and LLVM's).
class ThreadDiags : public clang::DiagnosticConsumer {
public:
	std::string errors;
	void HandleDiagnostic(clang::DiagnosticsEngine::Level level, const clang::Diagnostic &info) override
	{
		clang::DiagnosticConsumer::HandleDiagnostic(level, info);
		if (level < clang::DiagnosticsEngine::Error)
			return;
		llvm::SmallString<256> msg;
		info.FormatDiagnostic(msg);
		errors += (errors.empty() ? "" : "; ") + std::string(msg.str());
	}
	static void llvm_handler(const llvm::DiagnosticInfo &di, void *self)
	{
		if (di.getSeverity() != llvm::DS_Error)
			return;
		std::string m;
		llvm::raw_string_ostream os(m);
		llvm::DiagnosticPrinterRawOStream dp(os);
		di.print(dp);
		os.flush();
		std::string &e = static_cast<ThreadDiags *>(self)->errors;
		e += (e.empty() ? "" : "; ") + m;
	}
};

// ---- the cache of compiled objects ----
//
// Content-addressed, in a directory of its own (jit.h says which):
//   KEY.m  a manifest: what a model's C compiled to.  KEY is a SHA-1 of the
//          C source, the flags, the host CPU and its features, the LLVM
//          version and this dlc executable; the manifest lists the objects
//          (each with its size: an entry of another size is not read)
//          and the headers the compilation read (each path with its size and
//          modification time, checked before the entry is used).
//   KEY.o  an object file.  The shared helpers' object is keyed by a SHA-1
//          of their LLVM IR and the settings, so every model that uses the
//          same helpers finds it; a model's own objects by the manifest's
//          key and their number.
// Each file is written to a temporary name and renamed into place, and holds
// a magic string, its length and an xxHash64 of its contents: a file that is
// cut short or damaged reads as missing, and is compiled and written again.

const char kCacheFormat[] = "dlc-jit-cache 1";
const char kMagic[8] = {'D', 'L', 'C', 'J', 'I', 'T', 'C', '1'};

std::string hex(llvm::StringRef raw)
{
	static const char digits[] = "0123456789abcdef";
	std::string h;
	for (unsigned char c : raw) {
		h += digits[c >> 4];
		h += digits[c & 15];
	}
	return h;
}

struct Hasher {
	llvm::SHA1 sha;
	void add(llvm::StringRef s)
	{
		uint64_t n = s.size();
		sha.update(llvm::StringRef(reinterpret_cast<const char *>(&n), sizeof n));
		sha.update(s);
	}
	std::string key() { return hex(sha.final()); }
};

// The host CPU and every feature on or off: what -march=native resolves to.
std::string host_cpu()
{
	std::string s = llvm::sys::getHostCPUName().str();
	llvm::StringMap<bool> features;
	if (llvm::sys::getHostCPUFeatures(features)) {
		std::vector<std::string> f;
		for (auto &kv : features)
			f.push_back((kv.second ? "+" : "-") + kv.first().str());
		std::sort(f.begin(), f.end());
		for (const std::string &x : f)
			s += "," + x;
	}
	return s;
}

std::string file_stamp(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return "";
	return std::to_string((long long)st.st_size) + " " + std::to_string((long long)st.st_mtim.tv_sec) + "." +
	       std::to_string((long long)st.st_mtim.tv_nsec);
}

// This dlc executable (it holds the C emitter, the runtime the code calls
// and this file): rebuilding it starts the models' entries afresh.
std::string self_stamp()
{
	std::string s = file_stamp("/proc/self/exe");
	return s.empty() ? std::string("?") : s;
}

// The headers the frontend read (system headers too), for the manifest.
class Deps : public clang::DependencyCollector {
public:
	bool needSystemDependencies() override { return true; }
};

class Cache {
public:
	explicit Cache(const char *dir) : dir(dir && *dir ? dir : "") {}
	bool on() const { return !dir.empty(); }

	// The contents of KEY.SUFFIX, if the file is there and whole: a regular
	// file (not a link, FIFO or device: those are never opened for reading
	// past the open itself, which neither follows a link nor waits for a FIFO's
	// writer), of at most kMaxEntry bytes, and of `expect` bytes when that is
	// known.  Anything else is a miss (noted under DLC_JIT_VERBOSE); its entry
	// is written again by whoever compiles it.
	bool read(const std::string &name, std::string &out, uint64_t expect = 0) const
	{
		std::string path = dir + "/" + name;
		int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0) {
			if (errno != ENOENT)
				note(path, errno == ELOOP ? std::string("is a symbolic link") : strerror(errno));
			return false;
		}
		struct stat st;
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			note(path, "is not a regular file");
			close(fd);
			return false;
		}
		const uint64_t head = sizeof kMagic + 16, size = (uint64_t)st.st_size;
		if (size < head || size > kMaxEntry || (expect && size != expect)) {
			note(path, "has " + std::to_string(size) + " bytes, expected " +
			               (expect ? std::to_string(expect) : "from " + std::to_string(head) + " to " + std::to_string(kMaxEntry)));
			close(fd);
			return false;
		}
		std::string data;
		data.resize((size_t)size);
		size_t have = 0;
		while (have < data.size()) {
			ssize_t n = ::read(fd, &data[have], data.size() - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			have += (size_t)n;
		}
		close(fd);
		if (have != data.size() || memcmp(data.data(), kMagic, sizeof kMagic) != 0)
			return false;
		uint64_t len, sum;
		memcpy(&len, data.data() + sizeof kMagic, 8);
		memcpy(&sum, data.data() + sizeof kMagic + 8, 8);
		if (len != data.size() - head || llvm::xxHash64(llvm::StringRef(data.data() + head, len)) != sum)
			return false;
		out.assign(data, head, len);
		return true;
	}

	// The bytes KEY.SUFFIX takes for `len` bytes of contents.
	static uint64_t entry_size(uint64_t len) { return sizeof kMagic + 16 + len; }

	void note(const std::string &path, const std::string &why) const
	{
		if (verbose)
			fprintf(stderr, "dlc jit: cache entry %s %s: not used\n", path.c_str(), why.c_str());
	}

	// Writes KEY.SUFFIX atomically; false (and nothing written) on failure.
	bool write(const std::string &name, llvm::StringRef data) const
	{
		if (llvm::sys::fs::create_directories(dir))
			return false;
		static std::atomic<unsigned> serial{0};
		std::string tmp = dir + "/.tmp-" + std::to_string((long)getpid()) + "-" + std::to_string(serial++) + "-" + name;
		int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return false;
		uint64_t len = data.size(), sum = llvm::xxHash64(data);
		std::string out(kMagic, sizeof kMagic);
		out.append(reinterpret_cast<const char *>(&len), 8);
		out.append(reinterpret_cast<const char *>(&sum), 8);
		out.append(data.data(), data.size());
		size_t done = 0;
		while (done < out.size()) {
			ssize_t n = ::write(fd, out.data() + done, out.size() - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			done += (size_t)n;
		}
		bool ok = close(fd) == 0 && done == out.size();
		if (ok)
			ok = rename(tmp.c_str(), (dir + "/" + name).c_str()) == 0;
		if (!ok)
			unlink(tmp.c_str());
		return ok;
	}

	std::string dir;
	bool verbose = false;
	// No object of a model is near this; a larger entry is not read.
	static constexpr uint64_t kMaxEntry = (uint64_t)1 << 30;
};

struct Manifest {
	std::string target;
	int threads = 1;
	std::vector<std::string> objects; // object keys
	std::vector<uint64_t> sizes;      // their entries' sizes in bytes (0: not said)
	std::vector<std::pair<std::string, std::string>> deps; // path, stamp

	std::string text() const
	{
		std::string t = std::string(kCacheFormat) + "\ntarget " + target + "\nthreads " + std::to_string(threads) + "\n";
		for (size_t i = 0; i < objects.size(); i++)
			t += "object " + objects[i] + (i < sizes.size() && sizes[i] ? " " + std::to_string(sizes[i]) : "") + "\n";
		for (auto &d : deps)
			t += "dep " + d.second + " " + d.first + "\n";
		return t;
	}

	// False if the text is not a manifest or a header has changed since.
	bool parse(const std::string &t)
	{
		std::vector<std::string> lines = split_lines(t);
		if (lines.empty() || lines[0] != kCacheFormat)
			return false;
		for (size_t i = 1; i < lines.size(); i++) {
			const std::string &l = lines[i];
			if (l.empty())
				continue;
			if (l.compare(0, 7, "target ") == 0) {
				target = l.substr(7);
			} else if (l.compare(0, 8, "threads ") == 0) {
				threads = atoi(l.c_str() + 8);
			} else if (l.compare(0, 7, "object ") == 0) {
				// object KEY [SIZE]
				size_t sp = l.find(' ', 7);
				uint64_t size = 0;
				if (sp != std::string::npos) {
					const char *d = l.c_str() + sp + 1;
					char *end;
					if (*d < '1' || *d > '9')
						return false;
					errno = 0;
					size = strtoull(d, &end, 10);
					if (errno || *end)
						return false;
				}
				objects.push_back(l.substr(7, sp == std::string::npos ? sp : sp - 7));
				sizes.push_back(size);
			} else if (l.compare(0, 4, "dep ") == 0) {
				// dep SIZE SEC.NSEC PATH
				size_t a = l.find(' ', 4), b = a == std::string::npos ? a : l.find(' ', a + 1);
				if (b == std::string::npos)
					return false;
				std::string stamp = l.substr(4, b - 4), path = l.substr(b + 1);
				if (file_stamp(path.c_str()) != stamp)
					return false;
				deps.push_back({path, stamp});
			} else {
				return false;
			}
		}
		return !objects.empty() && threads >= 1;
	}
};

} // namespace

namespace {

// What clang's back end needs to compile a module to an object file, copied
// out of the CompilerInstance so that another thread can go on using it.
struct Backend {
	clang::HeaderSearchOptions hs;
	clang::CodeGenOptions cg;
	clang::TargetOptions to;
	clang::LangOptions lo;
	std::string dl;

	// The object code of m in obj; the errors, or "".
	std::string emit(llvm::Module &m, llvm::SmallVector<char, 0> &obj) const
	{
		ThreadDiags td;
		m.getContext().setDiagnosticHandlerCallBack(ThreadDiags::llvm_handler, &td);
		clang::DiagnosticsEngine de(new clang::DiagnosticIDs, new clang::DiagnosticOptions, &td, false);
		clang::EmitBackendOutput(de, hs, cg, to, lo, dl, &m, clang::Backend_EmitObj,
		                         std::make_unique<llvm::raw_svector_ostream>(obj));
		m.getContext().setDiagnosticHandlerCallBack(nullptr, nullptr);
		if (!td.errors.empty())
			return td.errors;
		return obj.empty() ? "no object code came out" : "";
	}
};

// The cache key of the shared helpers' partition: their IR alone (and the
// settings), the same for every model that uses the same helpers.
std::string helpers_key(llvm::Module &m, const std::string &settings)
{
	m.setModuleIdentifier("dlc-helpers");
	m.setSourceFileName("dlc-helpers");
	llvm::SmallVector<char, 0> bc;
	{
		llvm::raw_svector_ostream bs(bc);
		llvm::WriteBitcodeToFile(m, bs);
	}
	Hasher h;
	h.add(settings);
	h.add(llvm::StringRef(bc.data(), bc.size()));
	return h.key();
}

// The O3 tier's work, done on a thread of its own.
struct Tier2Job {
	Backend be;
	Plan plan;
	llvm::SmallVector<char, 0> bc; // the promoted module
	std::string path, key, settings, c_name;
	std::vector<std::string> stubs; // the roots the quick code redirects
	std::vector<std::pair<std::string, std::string>> deps;
	std::string data_obj;
	std::unique_ptr<Cache> cache;
	unsigned threads = 1;
	bool verbose = false;
};

} // namespace

struct DlcJit {
	std::unique_ptr<llvm::orc::LLJIT> jit;
	std::string target;
	std::string session_errors;
	std::vector<std::string> lines; // the C source, for messages
	JitTimes times{};
	unsigned threads = 1;
	bool linked = false;
	// two tiers: the O3 code's compilation, and where it stands
	double t0 = 0;
	std::thread tier2;
	std::atomic<int> tier2_state{1}; // 1 in place (or no tiers), 0 compiling, -1 failed
	std::string tier2_error;         // set before tier2_state becomes -1
	std::atomic<double> tier2_at{0}; // seconds from t0 to the O3 code in place
	~DlcJit()
	{
		if (tier2.joinable())
			tier2.join();
	}
};

namespace {

// An LLJIT holding the objects, resolving what they leave undefined in this
// process.
bool link_objects(DlcJit *out, const std::vector<std::string> &objs, const char *c_name, char *err, size_t errlen)
{
	auto jit = llvm::orc::LLJITBuilder().create();
	if (!jit) {
		set_err(err, errlen, "cannot create the LLVM JIT: " + llvm::toString(jit.takeError()));
		return false;
	}
	out->jit = std::move(*jit);
	out->jit->getExecutionSession().setErrorReporter([out](llvm::Error e) {
		out->session_errors += llvm::toString(std::move(e)) + "\n";
	});
	auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
	    out->jit->getDataLayout().getGlobalPrefix());
	if (!gen) {
		set_err(err, errlen, "cannot search this process for symbols: " + llvm::toString(gen.takeError()));
		return false;
	}
	out->jit->getMainJITDylib().addGenerator(std::move(*gen));
	for (size_t p = 0; p < objs.size(); p++) {
		std::string name = std::string(c_name) + ".part" + std::to_string(p) + ".o";
		auto buf = llvm::MemoryBuffer::getMemBufferCopy(objs[p], name);
		if (llvm::Error e = out->jit->addObjectFile(std::move(buf))) {
			set_err(err, errlen, "the LLVM JIT did not take the machine code: " + llvm::toString(std::move(e)));
			return false;
		}
	}
	return true;
}

// The O3 tier (see "two tiers"): partitions 1.. of the plan compiled on up
// to job->threads threads, linked into a JITDylib of their own, the quick
// code's slots pointed at them, and everything written to the cache.
void optimize(DlcJit *out, std::shared_ptr<Tier2Job> job)
{
	const Plan &plan = job->plan;
	std::vector<llvm::SmallVector<char, 0>> objs(plan.parts);
	std::vector<std::string> errs(plan.parts), keys(plan.parts);
	std::vector<char> from_cache(plan.parts, 0), stored(plan.parts, 0);
	std::atomic<unsigned> next{1};
	auto worker = [&]() {
		for (unsigned p; (p = next++) < plan.parts;) {
			llvm::LLVMContext pctx;
			auto pm = llvm::parseBitcodeFile(
			    llvm::MemoryBufferRef(llvm::StringRef(job->bc.data(), job->bc.size()), job->path), pctx);
			if (!pm) {
				errs[p] = "cannot read the module back: " + llvm::toString(pm.takeError());
				continue;
			}
			restrict_to(**pm, plan, p);
			if ((int)p == plan.helper_part && job->cache->on()) {
				keys[p] = helpers_key(**pm, job->settings);
				std::string o;
				if (job->cache->read(keys[p] + ".o", o)) {
					objs[p].assign(o.begin(), o.end());
					from_cache[p] = 1;
					continue;
				}
			}
			errs[p] = job->be.emit(**pm, objs[p]);
			if (!keys[p].empty() && errs[p].empty())
				stored[p] = job->cache->write(keys[p] + ".o", llvm::StringRef(objs[p].data(), objs[p].size()));
		}
	};
	std::vector<std::thread> pool;
	for (unsigned t = 1; t < job->threads && t + 1 < plan.parts; t++) {
		try {
			pool.emplace_back(worker);
		} catch (const std::exception &) {
			break;
		}
	}
	worker();
	for (std::thread &t : pool)
		t.join();
	auto fail = [&](const std::string &m) {
		out->tier2_error = m;
		out->tier2_state.store(-1);
	};
	for (unsigned p = 1; p < plan.parts; p++)
		if (!errs[p].empty())
			return fail("the LLVM back end failed" + plan.describe(p, out->lines) + ": " + errs[p]);

	llvm::orc::LLJIT &jit = *out->jit;
	auto jd = jit.getExecutionSession().createJITDylib("dlc.O3");
	if (!jd)
		return fail(llvm::toString(jd.takeError()));
	jd->addToLinkOrder(jit.getMainJITDylib());
	for (unsigned p = 1; p < plan.parts; p++) {
		std::string name = job->c_name + ".O3.part" + std::to_string(p) + ".o";
		auto buf = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(objs[p].data(), objs[p].size()), name);
		if (llvm::Error e = jit.addObjectFile(*jd, std::move(buf)))
			return fail("the LLVM JIT did not take the machine code: " + llvm::toString(std::move(e)));
	}
	std::vector<std::pair<void **, void *>> swaps;
	for (const std::string &r : job->stubs) {
		auto fn = jit.lookup(*jd, r);
		if (!fn)
			return fail("the O3 code has no function '" + r + "': " + llvm::toString(fn.takeError()));
		auto slot = jit.lookup(jit.getMainJITDylib(), kSlotPrefix + r);
		if (!slot)
			return fail("the quick code has no slot for '" + r + "': " + llvm::toString(slot.takeError()));
		swaps.push_back({reinterpret_cast<void **>(static_cast<uintptr_t>(slot->getAddress())),
		                 reinterpret_cast<void *>(static_cast<uintptr_t>(fn->getAddress()))});
	}
	for (auto &sw : swaps)
		__atomic_store_n(sw.first, sw.second, __ATOMIC_RELEASE);
	out->tier2_at.store(now_s() - out->t0);
	out->tier2_state.store(1);
	if (job->verbose)
		fprintf(stderr, "dlc jit: O3 code in place %.0f ms after the start (%u partitions)\n",
		        1e3 * out->tier2_at.load(), plan.parts - 1);

	// into the cache: the data object and the O3 objects, then the manifest
	if (job->cache->on()) {
		Manifest man;
		man.target = out->target;
		man.threads = (int)plan.parts;
		keys[0] = job->key + "-0";
		bool saved = job->cache->write(keys[0] + ".o", job->data_obj);
		man.objects.push_back(keys[0]);
		man.sizes.push_back(Cache::entry_size(job->data_obj.size()));
		for (unsigned p = 1; saved && p < plan.parts; p++) {
			if (keys[p].empty()) {
				keys[p] = job->key + "-" + std::to_string(p);
				stored[p] = job->cache->write(keys[p] + ".o", llvm::StringRef(objs[p].data(), objs[p].size()));
			}
			saved = from_cache[p] || stored[p];
			man.objects.push_back(keys[p]);
			man.sizes.push_back(Cache::entry_size(objs[p].size()));
		}
		man.deps = job->deps;
		saved = saved && job->cache->write(job->key + ".m", man.text());
		if (job->verbose)
			fprintf(stderr, "dlc jit: %s %s/%s.m\n", saved ? "cached as" : "could not write", job->cache->dir.c_str(),
			        job->key.c_str());
	}
}

} // namespace

extern "C" const char *jit_llvm_version(void)
{
	return "LLVM " LLVM_VERSION_STRING;
}

extern "C" DlcJit *jit_compile(const char *c_source, size_t len, const char *c_name, const char *include_dir,
                               const char *const *flags, int nflags, const char *cache_dir, int tiered,
                               char *err, size_t errlen)
{
	init_llvm();
	double t0 = now_s();
	std::unique_ptr<DlcJit> out(new DlcJit);
	std::string src(c_source, len);
	const bool verbose = getenv("DLC_JIT_VERBOSE") != nullptr;

	// what the machine code depends on besides the C source
	Cache cache(cache_dir);
	cache.verbose = verbose;
	std::string settings = std::string(kCacheFormat) + "\n" + jit_llvm_version() + "\n" + host_cpu() + "\n";
	for (int i = 0; i < nflags; i++)
		settings += std::string(flags[i]) + "\n";
	const char *ih = getenv("DLC_JIT_INLINE_HELPERS");
	const bool inline_helpers = !(ih && strcmp(ih, "0") == 0);
	if (inline_helpers)
		settings += "inline helpers\n";
	std::string key;
	if (cache.on()) {
		Hasher h;
		h.add(settings);
		h.add(self_stamp());
		h.add(include_dir);
		h.add(c_name);
		h.add(src);
		key = h.key();
		std::string text;
		Manifest man;
		std::vector<std::string> objs(1);
		bool hit = cache.read(key + ".m", text) && man.parse(text);
		if (hit) {
			objs.resize(man.objects.size());
			for (size_t i = 0; hit && i < man.objects.size(); i++)
				hit = cache.read(man.objects[i] + ".o", objs[i], man.sizes[i]);
		}
		if (hit) {
			out->lines = split_lines(src);
			out->target = man.target;
			out->threads = (unsigned)man.threads;
			if (!link_objects(out.get(), objs, c_name, err, errlen))
				return nullptr;
			out->times.threads = man.threads;
			out->times.objects = (int)objs.size();
			out->times.cached = (int)objs.size();
			if (verbose)
				fprintf(stderr, "dlc jit: cache hit %s/%s.m: %zu objects, %.0f ms\n", cache.dir.c_str(), key.c_str(),
				        objs.size(), 1e3 * (now_s() - t0));
			return out.release();
		}
		if (verbose)
			fprintf(stderr, "dlc jit: cache miss %s/%s.m\n", cache.dir.c_str(), key.c_str());
	}
	out->lines = split_lines(src);

	// the source lives in an in-memory file system laid over the real one
	// (which holds dlrt.h and the system headers)
	std::string path = std::string("/dlc-jit/") + c_name;
	llvm::IntrusiveRefCntPtr<llvm::vfs::InMemoryFileSystem> mem(new llvm::vfs::InMemoryFileSystem);
	mem->addFile(path, 0, llvm::MemoryBuffer::getMemBufferCopy(src, path));
	llvm::IntrusiveRefCntPtr<llvm::vfs::OverlayFileSystem> fs(
	    new llvm::vfs::OverlayFileSystem(llvm::vfs::getRealFileSystem()));
	fs->pushOverlay(mem);

	// the driver turns the ordinary command line (-march=native included)
	// into a cc1 invocation, as `clang -c` would
	std::vector<const char *> args = {DLC_CLANG_EXECUTABLE};
#ifdef DLC_CLANG_RESOURCE_DIR
	args.push_back("-resource-dir");
	args.push_back(DLC_CLANG_RESOURCE_DIR);
#endif
	for (int i = 0; i < nflags; i++)
		args.push_back(flags[i]);
	std::string inc = std::string("-I") + include_dir;
	args.push_back(inc.c_str());
	args.push_back("-ferror-limit=8");
	args.push_back("-x");
	args.push_back("c");
	args.push_back(path.c_str());

	llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> dopts(new clang::DiagnosticOptions);
	dopts->ShowColors = false;
	Collector diag(dopts.get(), path);
	llvm::IntrusiveRefCntPtr<clang::DiagnosticsEngine> diags =
	    clang::CompilerInstance::createDiagnostics(dopts.get(), &diag, false);
	std::shared_ptr<clang::CompilerInvocation> inv = clang::createInvocationFromCommandLine(args, diags, fs);
	if (!inv || diags->hasErrorOccurred()) {
		set_err(err, errlen, "clang could not set up the compilation:\n" + diag.message());
		return nullptr;
	}
	clang::CompilerInstance ci;
	ci.setInvocation(inv);
	ci.setDiagnostics(diags.get());
	ci.createFileManager(fs);
	ci.setVerboseOutputStream(llvm::nulls()); // no "N errors generated." on stderr
	ci.getFrontendOpts().DisableFree = false;
	// IR straight from the frontend: verified and checked before clang's
	// O3 pipeline runs on it below
	ci.getCodeGenOpts().DisableLLVMPasses = true;
	auto deps = std::make_shared<Deps>();
	if (cache.on())
		ci.addDependencyCollector(deps);
	auto ctx = std::make_unique<llvm::LLVMContext>();
	clang::EmitLLVMOnlyAction act(ctx.get());
	bool ok = ci.ExecuteAction(act);
	std::unique_ptr<llvm::Module> mod = ok ? act.takeModule() : nullptr;
	if (!ok || !mod || diags->hasErrorOccurred()) {
		std::string where;
		std::string fn = function_at_line(out->lines, diag.first_line);
		if (!fn.empty())
			where = " in " + describe_function(out->lines, fn);
		else if (diag.first_line)
			where = " at line " + std::to_string(diag.first_line);
		set_err(err, errlen, "clang rejected the generated C" + where + ":\n" + diag.message());
		return nullptr;
	}
	double t1 = now_s();

	// LLVM's verifier, function by function so the message names the kernel
	for (llvm::Function &f : *mod) {
		std::string v;
		llvm::raw_string_ostream vs(v);
		if (!f.isDeclaration() && llvm::verifyFunction(f, &vs)) {
			vs.flush();
			set_err(err, errlen, "the LLVM verifier rejected the code of " +
			                         describe_function(out->lines, f.getName().str()) + ":\n" + v);
			return nullptr;
		}
	}
	{
		std::string v;
		llvm::raw_string_ostream vs(v);
		if (llvm::verifyModule(*mod, &vs)) {
			vs.flush();
			set_err(err, errlen, "the LLVM verifier rejected the generated module:\n" + v);
			return nullptr;
		}
	}
	// every function and variable the code uses from outside must be in this
	// process (the runtime linked into dlc, libc, libm)
	{
		std::map<std::string, std::set<std::string>> missing;
		auto check = [&](llvm::GlobalValue &g) {
			if (!g.isDeclaration() || g.use_empty() || g.getName().startswith("llvm."))
				return;
			if (dlsym(RTLD_DEFAULT, g.getName().str().c_str()))
				return;
			std::set<std::string> &users = missing[g.getName().str()];
			for (llvm::User *u : g.users())
				if (auto *ins = llvm::dyn_cast<llvm::Instruction>(u))
					users.insert(ins->getFunction()->getName().str());
		};
		for (llvm::Function &f : *mod)
			check(f);
		for (llvm::GlobalVariable &g : mod->globals())
			check(g);
		if (!missing.empty()) {
			std::string m;
			for (auto &kv : missing) {
				m += m.empty() ? "" : "; ";
				m += "'" + kv.first + "'";
				if (!kv.second.empty()) {
					m += ", used by ";
					int k = 0;
					for (const std::string &u : kv.second)
						m += (k++ ? ", " : "") + describe_function(out->lines, u);
				}
			}
			set_err(err, errlen, "the generated code needs symbols this dlc process does not have: " + m);
			return nullptr;
		}
	}

	// clang's O3 pipeline and code generator, as `clang -c` runs them for
	// the target the driver chose (-march=native: the host CPU and its
	// features), on several threads: the module is split into partitions
	// (below), each compiled to an object file in memory
	ci.getCodeGenOpts().DisableLLVMPasses = false;
	const unsigned nthreads = jit_threads();
	if (tiered) {
		auto job = std::make_shared<Tier2Job>();
		job->be.hs = ci.getHeaderSearchOpts();
		job->be.cg = ci.getCodeGenOpts();
		job->be.to = ci.getTargetOpts();
		job->be.lo = ci.getLangOpts();
		job->be.dl = ci.getTarget().getDataLayoutString();
		// the trainer keeps a core busy: the O3 tier takes the others
		job->threads = nthreads > 1 ? nthreads - 1 : 1;
		job->plan = make_plan(*mod, job->threads, !inline_helpers, true);
		const Plan &plan = job->plan;
		promote(*mod, plan);
		{
			llvm::raw_svector_ostream bs(job->bc);
			llvm::WriteBitcodeToFile(*mod, bs);
		}
		Backend quick = job->be;
		quick.cg.OptimizationLevel = 0;
		quick.cg.DisableLLVMPasses = true;
		// the data object: partition 0
		llvm::SmallVector<char, 0> data, code;
		{
			llvm::LLVMContext dctx;
			auto dm = llvm::parseBitcodeFile(llvm::MemoryBufferRef(llvm::StringRef(job->bc.data(), job->bc.size()), path),
			                                 dctx);
			if (!dm) {
				set_err(err, errlen, "cannot read the module back: " + llvm::toString(dm.takeError()));
				return nullptr;
			}
			restrict_to(**dm, plan, 0);
			std::string e = quick.emit(**dm, data);
			if (!e.empty()) {
				set_err(err, errlen, "the LLVM back end failed on the model's arrays: " + e);
				return nullptr;
			}
		}
		// the quick code: every function, each root behind its slot
		declare_data(*mod);
		drop_unused(*mod);
		std::string e = quick_passes(*mod);
		for (auto &kv : plan.owner) {
			llvm::Function *f = mod->getFunction(kv.first);
			if ((int)kv.second != plan.helper_part && f && !f->isDeclaration() && !f->isVarArg()) {
				add_redirect(*mod, *f);
				job->stubs.push_back(kv.first);
			}
		}
		if (e.empty())
			e = quick.emit(*mod, code);
		if (!e.empty()) {
			set_err(err, errlen, "the LLVM back end failed on the quick code: " + e);
			return nullptr;
		}
		double t2 = now_s();
		const clang::TargetOptions &to = ci.getTargetOpts();
		out->target = summarize_target(to.CPU, to.Features);
		out->threads = 1;
		job->data_obj.assign(data.data(), data.size());
		if (!link_objects(out.get(), {job->data_obj, std::string(code.data(), code.size())}, c_name, err, errlen))
			return nullptr;
		out->times.frontend = t1 - t0;
		out->times.compile = t2 - t1;
		out->times.threads = 1;
		out->times.objects = 2;
		out->times.tiered = 1;
		out->times.optimizing_threads = (int)std::min<unsigned>(job->threads, plan.parts - 1);
		if (verbose)
			fprintf(stderr, "dlc jit: frontend %.0f ms, quick code %.0f ms; O3 in %u partitions on %d thread%s\n",
			        1e3 * (t1 - t0), 1e3 * (t2 - t1), plan.parts - 1, out->times.optimizing_threads,
			        out->times.optimizing_threads == 1 ? "" : "s");
		job->path = path;
		job->key = key;
		job->settings = settings;
		job->c_name = c_name;
		job->verbose = verbose;
		job->cache.reset(new Cache(cache));
		if (cache.on())
			for (const std::string &d : deps->getDependencies()) {
				std::string stamp = file_stamp(d.c_str());
				if (d != path && !stamp.empty())
					job->deps.push_back({d, stamp});
			}
		out->t0 = t0;
		out->tier2_state.store(0);
		if (tiered == 2)
			return out.release(); // the quick code alone
		DlcJit *o = out.get();
		try {
			out->tier2 = std::thread(optimize, o, job);
		} catch (const std::exception &) {
			optimize(o, job); // no thread to be had: O3 now
		}
		return out.release();
	}
	Plan plan = make_plan(*mod, nthreads, !inline_helpers, false);
	std::vector<llvm::SmallVector<char, 0>> objs(plan.parts);
	std::vector<std::string> errs(plan.parts), keys(plan.parts);
	std::vector<char> from_cache(plan.parts, 0), stored(plan.parts, 0);
	const std::string dl = ci.getTarget().getDataLayoutString();
	std::vector<double> cpu(plan.parts, 0.0), wall(plan.parts, 0.0), split_cpu(plan.parts, 0.0);
	auto compile = [&](unsigned p, llvm::Module &m) {
		double c0 = cpu_s(), w0 = now_s();
		ThreadDiags td;
		m.getContext().setDiagnosticHandlerCallBack(ThreadDiags::llvm_handler, &td);
		clang::DiagnosticsEngine de(new clang::DiagnosticIDs, new clang::DiagnosticOptions, &td, false);
		clang::EmitBackendOutput(de, ci.getHeaderSearchOpts(), ci.getCodeGenOpts(), ci.getTargetOpts(),
		                         ci.getLangOpts(), dl, &m, clang::Backend_EmitObj,
		                         std::make_unique<llvm::raw_svector_ostream>(objs[p]));
		m.getContext().setDiagnosticHandlerCallBack(nullptr, nullptr);
		cpu[p] = cpu_s() - c0;
		wall[p] = now_s() - w0;
		if (!td.errors.empty())
			errs[p] = td.errors;
		else if (objs[p].empty())
			errs[p] = "no object code came out";
	};
	if (plan.parts == 1) {
		compile(0, *mod);
	} else {
		promote(*mod, plan);
		llvm::SmallVector<char, 0> bc;
		{
			llvm::raw_svector_ostream bs(bc);
			llvm::WriteBitcodeToFile(*mod, bs);
		}
		auto part = [&](unsigned p) {
			double c0 = cpu_s();
			llvm::LLVMContext pctx;
			auto pm = llvm::parseBitcodeFile(llvm::MemoryBufferRef(llvm::StringRef(bc.data(), bc.size()), path), pctx);
			if (!pm) {
				errs[p] = "cannot read the module back: " + llvm::toString(pm.takeError());
				return;
			}
			restrict_to(**pm, plan, p);
			if ((int)p == plan.helper_part && cache.on()) {
				keys[p] = helpers_key(**pm, settings);
				std::string o;
				if (cache.read(keys[p] + ".o", o)) {
					objs[p].assign(o.begin(), o.end());
					from_cache[p] = 1;
					split_cpu[p] = cpu_s() - c0;
					return;
				}
			}
			split_cpu[p] = cpu_s() - c0;
			compile(p, **pm);
			if (!keys[p].empty() && errs[p].empty())
				stored[p] = cache.write(keys[p] + ".o", llvm::StringRef(objs[p].data(), objs[p].size()));
		};
		std::vector<std::thread> pool;
		std::vector<unsigned> here = {0};
		for (unsigned p = 1; p < plan.parts; p++) {
			if (nthreads == 1) {
				here.push_back(p);
				continue;
			}
			try {
				pool.emplace_back(part, p);
			} catch (const std::exception &) {
				here.push_back(p); // no thread to be had: compile it on this one
			}
		}
		for (unsigned p : here)
			part(p);
		for (std::thread &t : pool)
			t.join();
	}
	for (unsigned p = 0; p < plan.parts; p++)
		if (!errs[p].empty()) {
			set_err(err, errlen, "the LLVM back end failed" + plan.describe(p, out->lines) + ": " + errs[p]);
			return nullptr;
		}
	double t2 = now_s();
	const clang::TargetOptions &to = ci.getTargetOpts();
	out->target = summarize_target(to.CPU, to.Features);
	out->threads = plan.parts;
	int ncached = 0;
	for (unsigned p = 0; p < plan.parts; p++)
		ncached += from_cache[p];

	// into the cache: the model's objects, then the manifest naming them
	bool saved = false;
	if (cache.on()) {
		Manifest man;
		man.target = out->target;
		man.threads = (int)plan.parts;
		saved = true;
		for (unsigned p = 0; saved && p < plan.parts; p++) {
			if (keys[p].empty()) {
				keys[p] = key + "-" + std::to_string(p);
				stored[p] = cache.write(keys[p] + ".o", llvm::StringRef(objs[p].data(), objs[p].size()));
			}
			saved = from_cache[p] || stored[p];
			man.objects.push_back(keys[p]);
			man.sizes.push_back(Cache::entry_size(objs[p].size()));
		}
		for (const std::string &d : deps->getDependencies()) {
			std::string stamp = file_stamp(d.c_str());
			if (d != path && !stamp.empty())
				man.deps.push_back({d, stamp});
		}
		saved = saved && cache.write(key + ".m", man.text());
	}
	if (verbose) {
		double total = 0, most = 0;
		for (unsigned p = 0; p < plan.parts; p++) {
			fprintf(stderr, "dlc jit: partition %u%s: %zu roots, cost %.0f, split %.0f ms cpu, %s %.0f ms cpu, "
			        "%.0f ms wall\n", p, (int)p == plan.helper_part ? " (helpers)" : "",
			        plan.parts > 1 ? plan.roots[p].size() : (size_t)0, plan.parts > 1 ? plan.load[p] : 0.0,
			        1e3 * split_cpu[p], from_cache[p] ? "from the cache," : "compile", 1e3 * cpu[p], 1e3 * wall[p]);
			if (plan.parts > 1 && getenv("DLC_JIT_VERBOSE")[0] == '2')
				for (const std::string &r : plan.roots[p])
					fprintf(stderr, "dlc jit:   %s\n", r.c_str());
			total += cpu[p];
			most = std::max(most, cpu[p]);
		}
		fprintf(stderr, "dlc jit: frontend %.0f ms, back end %.0f ms cpu in all, %.0f ms on the longest thread\n",
		        1e3 * (t1 - t0), 1e3 * total, 1e3 * most);
		if (cache.on())
			fprintf(stderr, "dlc jit: %s %s/%s.m\n", saved ? "cached as" : "could not write", cache.dir.c_str(),
			        key.c_str());
	}

	std::vector<std::string> bytes(plan.parts);
	for (unsigned p = 0; p < plan.parts; p++)
		bytes[p].assign(objs[p].data(), objs[p].size());
	if (!link_objects(out.get(), bytes, c_name, err, errlen))
		return nullptr;
	out->times.frontend = t1 - t0;
	out->times.compile = t2 - t1;
	out->times.threads = std::max(1, (int)plan.parts - ncached);
	out->times.objects = (int)plan.parts;
	out->times.cached = ncached;
	out->times.stored = saved;
	return out.release();
}

extern "C" void *jit_lookup(DlcJit *j, const char *symbol, char *err, size_t errlen)
{
	double t0 = now_s();
	auto sym = j->jit->lookup(symbol);
	if (!j->linked) {
		j->times.link = now_s() - t0;
		j->linked = true;
	}
	if (!sym) {
		std::string m = llvm::toString(sym.takeError());
		if (!j->session_errors.empty())
			m = j->session_errors + m;
		set_err(err, errlen, "the JIT-compiled code has no symbol '" + std::string(symbol) + "' (" + m + ")");
		return nullptr;
	}
	if (!sym->getAddress()) {
		set_err(err, errlen, "the JIT-compiled symbol '" + std::string(symbol) + "' has no address");
		return nullptr;
	}
	return reinterpret_cast<void *>(static_cast<uintptr_t>(sym->getAddress()));
}

extern "C" int jit_optimized(DlcJit *j, int wait, char *err, size_t errlen)
{
	if (wait && j->tier2.joinable())
		j->tier2.join();
	int st = j->tier2_state.load(std::memory_order_acquire);
	if (st < 0)
		set_err(err, errlen, j->tier2_error);
	return st;
}

extern "C" const char *jit_target(const DlcJit *j)
{
	return j->target.c_str();
}

extern "C" void jit_times(const DlcJit *j, JitTimes *t)
{
	*t = j->times;
	t->optimized = j->tier2_at.load();
}

extern "C" void jit_free(DlcJit *j)
{
	delete j;
}
