using System.Reflection;
using Lmkd.Configuration;
using Lmkd.Policies;

namespace Lmkd.Tests.Configuration;

public sealed class OptionsLoaderTests
{
    private static LmkdOptions? Load(out List<ConfigError> errors, params string[] switches) =>
        OptionsLoader.Load(OptionsLoader.BuildConfiguration(null, switches), out errors);

    [Fact]
    public void Defaults_are_valid_and_get_the_android_psi_levels()
    {
        var o = Load(out var errors);
        Assert.Empty(errors);
        Assert.NotNull(o);
        Assert.Collection(o!.Psi.Levels,
            l => Assert.Equal(("some", 70, 1000), (l.Kind, l.StallMs, l.WindowMs)),
            l => Assert.Equal(("full", 700, 1000), (l.Kind, l.StallMs, l.WindowMs)));
    }

    [Fact]
    public void The_shipped_appsettings_json_is_valid()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        Assert.True(File.Exists(file));
        var o = OptionsLoader.Load(OptionsLoader.BuildConfiguration(file, []), out var errors);
        Assert.Empty(errors);
        Assert.NotNull(o);
    }

    /// <summary>
    /// Every scalar option, set through configuration to a value other than its default, arrives in
    /// the options: a property the binder cannot set (init-only, say) would be ignored silently.
    /// </summary>
    [Fact]
    public void Every_scalar_option_binds_from_configuration()
    {
        var defaults = new LmkdOptions();
        var switches = new List<string>();
        var expected = new List<(string Key, Func<LmkdOptions, object?> Get, object Value)>();
        foreach (var (prefix, get, instance) in Sections(defaults))
        {
            foreach (var p in instance.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.GetIndexParameters().Length == 0))
            {
                object? value = p.PropertyType switch
                {
                    var t when t == typeof(bool) => !(bool)p.GetValue(instance)!,
                    var t when t == typeof(int) => (int)p.GetValue(instance)! + 1,
                    var t when t == typeof(long) => (long)p.GetValue(instance)! + 1,
                    var t when t == typeof(double) => (double)p.GetValue(instance)! + 0.5,
                    _ => null,
                };
                if (value is null || !p.CanWrite)
                    continue;
                string key = $"Lmkd:{prefix}{p.Name}";
                switches.Add($"--{key}={Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)}");
                var prop = p;
                expected.Add((key, o => prop.GetValue(get(o)), value));
            }
        }
        // The loader's own binding call: source-generated in the daemon, unlike a Bind call compiled here.
        var config = OptionsLoader.BuildConfiguration(null, switches.ToArray());
        var section = config.GetSection("Lmkd");
        var viaLoader = new LmkdOptions();
        OptionsLoader.Bind(section, viaLoader);
        Assert.True(expected.Count >= 25, $"only {expected.Count} scalar options found");
        foreach (var (key, get, value) in expected)
            Assert.True(Equals(get(viaLoader), value), $"{key} did not bind: got {get(viaLoader)}, wanted {value}");
    }

    private static IEnumerable<(string Prefix, Func<LmkdOptions, object> Get, object Instance)> Sections(LmkdOptions o)
    {
        yield return ("", x => x, o);
        yield return ("Scope:", x => x.Scope, o.Scope);
        yield return ("Psi:", x => x.Psi, o.Psi);
        yield return ("Policy:", x => x.Policy, o.Policy);
        yield return ("Headroom:", x => x.Headroom, o.Headroom);
        yield return ("Kill:", x => x.Kill, o.Kill);
        yield return ("SelfProtection:", x => x.SelfProtection, o.SelfProtection);
        yield return ("Metrics:", x => x.Metrics, o.Metrics);
        yield return ("Notify:", x => x.Notify, o.Notify);
        yield return ("Hooks:", x => x.Hooks, o.Hooks);
    }

    /// <summary>Every option's key, from the options classes themselves (a list of values or of levels is one key).</summary>
    private static IEnumerable<string> OptionKeys(object section, string prefix)
    {
        foreach (var p in section.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var t = p.PropertyType;
            if (t.IsPrimitive || t == typeof(string) || t.IsEnum || t.IsGenericType)
                yield return prefix + p.Name;
            else
                foreach (var k in OptionKeys(p.GetValue(section)!, prefix + p.Name + ":"))
                    yield return k;
        }
    }

    [Fact]
    public void Every_option_is_in_the_shipped_appsettings_json_and_in_the_readme_table()
    {
        var keys = OptionKeys(new LmkdOptions(), "").ToList();
        Assert.Contains("Notify:DesktopIntervalMs", keys);
        Assert.Contains("Hooks:PostKillArgs", keys);

        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "appsettings.json")));
        foreach (var key in keys)
        {
            var e = json.RootElement.GetProperty("Lmkd");
            foreach (var part in key.Split(':'))
                Assert.True(e.TryGetProperty(part, out e), $"appsettings.json lacks Lmkd:{key}");
        }

        // The README's option table: "| `Scope:MinFreePct`, `LowFreePct`, ... |": later names share the first one's section.
        var documented = new HashSet<string>();
        foreach (var line in File.ReadAllLines(Service.SystemdUnitTests.RepoFile("README.md")).Where(l => l.StartsWith("| `", StringComparison.Ordinal)))
        {
            var names = System.Text.RegularExpressions.Regex.Matches(line.Split('|')[1], "`([^`]+)`").Select(m => m.Groups[1].Value).ToList();
            string section = names[0].Contains(':') ? names[0][..(names[0].LastIndexOf(':') + 1)] : "";
            foreach (var n in names)
                documented.Add(n.Contains(':') ? n : section + n);
        }
        var undocumented = keys.Where(k => !documented.Contains(k)).ToList();
        Assert.True(undocumented.Count == 0, "the README's option table lacks: " + string.Join(", ", undocumented));
    }

    [Theory]
    [InlineData("--Lmkd:Kill:TimeoutMs=abc", "Lmkd:Kill:TimeoutMs")]
    [InlineData("--Lmkd:Kill:TimeoutMs=5", "Lmkd:Kill:TimeoutMs")]
    [InlineData("--Lmkd:DryRn=true", "Lmkd:DryRn")]
    [InlineData("--Lmkd:Policy:SwapFreeLowPercentage=101", "Lmkd:Policy:SwapFreeLowPercentage")]
    [InlineData("--Lmkd:Psi:Levels:0:Kind=partial", "Lmkd:Psi:Levels:0:Kind")]
    [InlineData("--Lmkd:Scope:Cgroup=relative", "Lmkd:Scope:Cgroup")]
    [InlineData("--Lmkd:Scope:Cgroup=/a/../b", "Lmkd:Scope:Cgroup")]
    [InlineData("--Lmkd:Metrics:Listen=localhost:9469", "Lmkd:Metrics:Listen")]
    [InlineData("--Lmkd:Metrics:Listen=0.0.0.0:9469", "Lmkd:Metrics:Listen")]
    [InlineData("--Lmkd:Kill:Mode=gentle", "Lmkd:Kill:Mode")]
    [InlineData("--Lmkd:Log:Level=Loud", "Lmkd:Log:Level")]
    [InlineData("--Lmkd:Protect:ExePaths:0=sshd", "Lmkd:Protect:ExePaths:0")]
    [InlineData("--Lmkd:SelfProtection:RealtimePriority=100", "Lmkd:SelfProtection:RealtimePriority")]
    [InlineData("--Lmkd:Policy:SwapCompressionRatio=zram", "Lmkd:Policy:SwapCompressionRatio")]
    [InlineData("--Lmkd:Headroom:HorizonMs=10", "Lmkd:Headroom:HorizonMs")]
    [InlineData("--Lmkd:Headroom:Levels:0:HeadroomPct=0", "Lmkd:Headroom:Levels:0:HeadroomPct")]
    [InlineData("--Lmkd:Headroom:Levels:0:MinScoreAdj=1001", "Lmkd:Headroom:Levels:0:MinScoreAdj")]
    [InlineData("--Lmkd:Headroom:Levels:0:HorizonMs=10", "Lmkd:Headroom:Levels:0:HorizonMs")]
    [InlineData("--Lmkd:Notify:DesktopBurst=0", "Lmkd:Notify:DesktopBurst")]
    [InlineData("--Lmkd:Notify:DesktopIntervalMs=10", "Lmkd:Notify:DesktopIntervalMs")]
    [InlineData("--Lmkd:Hooks:PostKill=notify-admin --now", "Lmkd:Hooks:PostKill")]
    [InlineData("--Lmkd:Hooks:PostKill=/nonexistent/hook", "Lmkd:Hooks:PostKill")]
    [InlineData("--Lmkd:Hooks:PostKillArgs:0=-x", "Lmkd:Hooks:PostKillArgs")]
    [InlineData("--Lmkd:Hooks:PostKillTimeoutMs=50", "Lmkd:Hooks:PostKillTimeoutMs")]
    public void An_invalid_value_is_refused_with_its_full_key(string setting, string key)
    {
        var o = Load(out var errors, setting);
        Assert.Null(o);
        Assert.Contains(errors, e => e.Key == key);
    }

    [Fact]
    public void A_post_kill_hook_is_a_program_and_a_list_of_arguments()
    {
        var o = Load(out var errors, "--Lmkd:Hooks:PostKill=/bin/sh", "--Lmkd:Hooks:PostKillArgs:0=-c", "--Lmkd:Hooks:PostKillArgs:1=logger \"$LMKD_COMM\"");
        Assert.Empty(errors);
        Assert.Equal("/bin/sh", o!.Hooks.PostKill);
        Assert.Equal(["-c", "logger \"$LMKD_COMM\""], o.Hooks.PostKillArgs);
    }

    [Fact]
    public void Non_loopback_metrics_need_the_explicit_setting()
    {
        Assert.NotNull(Load(out var errors, "--Lmkd:Metrics:Listen=0.0.0.0:9469", "--Lmkd:Metrics:AllowNonLoopback=true"));
        Assert.Empty(errors);
    }

    [Fact]
    public void Configured_psi_levels_replace_the_defaults_rather_than_append()
    {
        var o = Load(out _, "--Lmkd:Psi:Levels:0:Name=only", "--Lmkd:Psi:Levels:0:Kind=full", "--Lmkd:Psi:Levels:0:StallMs=150", "--Lmkd:Psi:Levels:0:WindowMs=1000");
        var level = Assert.Single(o!.Psi.Levels);
        Assert.Equal(("only", "full", 150), (level.Name, level.Kind, level.StallMs));
    }

    [Fact]
    public void Configured_headroom_levels_replace_the_defaults_rather_than_append()
    {
        var o = Load(out var errors, "--Lmkd:Headroom:Levels:0:HeadroomPct=6", "--Lmkd:Headroom:Levels:0:MinScoreAdj=100", "--Lmkd:Headroom:Levels:0:HorizonMs=3000");
        Assert.Empty(errors);
        var level = Assert.Single(o!.Headroom.Levels);
        Assert.Equal((6.0, 100, (int?)3000), (level.HeadroomPct, level.MinScoreAdj, level.HorizonMs));
        var defaults = Load(out _)!.Headroom.Levels; // none configured: the defaults
        Assert.Equal(HeadroomOptions.DefaultLevels(), defaults);
    }

    [Fact]
    public void Lmkd_environment_variables_override_the_file()
    {
        Environment.SetEnvironmentVariable("LMKD_Kill__TimeoutMs", "777");
        try
        {
            Assert.Equal(777, Load(out _)!.Kill.TimeoutMs);
        }
        finally
        {
            Environment.SetEnvironmentVariable("LMKD_Kill__TimeoutMs", null);
        }
    }

    [Theory]
    [InlineData("LMKD_DryRun", true)]
    [InlineData("LMKD_Kill__TimeoutMs", true)]
    [InlineData("LMKD_dryrun", true)]
    [InlineData("LMKD_CONFIG", false)]
    [InlineData("LMKD_TEST_RESULTS", false)]
    [InlineData("LMKD_PID", false)]
    [InlineData("LMKD_", false)]
    [InlineData("OTHER_DryRun", false)]
    public void Only_variables_spelled_like_keys_are_configuration(string name, bool isConfiguration) =>
        Assert.Equal(isConfiguration, OptionsLoader.IsConfigurationVariable(name));

    [Fact]
    public void A_capitalised_LMKD_variable_in_the_environment_does_not_stop_the_start()
    {
        Environment.SetEnvironmentVariable("LMKD_SOME_HARNESS_DIR", "/tmp");
        try
        {
            Assert.NotNull(Load(out var errors));
            Assert.Empty(errors);
        }
        finally
        {
            Environment.SetEnvironmentVariable("LMKD_SOME_HARNESS_DIR", null);
        }
    }
}
