// The tests' memory-limited cgroups are the demo's sandbox: one implementation, exercised by both.
global using TestCgroup = Lmkd.Cli.SandboxCgroup;
global using Lmkd.Cli;
