// Real pressure, VM boots under software emulation and timed kernel events all compete for the
// same two cores: run test classes one after another so no scenario blurs another's figures.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Lmkd.Tests;

/// <summary>
/// Tests that create real memory pressure or time real kernel events run one at a time: two
/// pressure scenarios side by side would steal each other's CPU and page cache and blur what
/// each one proves.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealKernelCollection
{
    public const string Name = "Real kernel, one at a time";
}
