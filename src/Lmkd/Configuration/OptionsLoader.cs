using System.Collections;
using Lmkd.Policies;
using Microsoft.Extensions.Configuration;

namespace Lmkd.Configuration;

/// <summary>
/// Where the configuration comes from, and how it becomes validated <see cref="LmkdOptions"/>.
/// Sources, later ones winning: the JSON file (--config, $LMKD_CONFIG, /etc/lmkd/appsettings.json,
/// or appsettings.json beside the binary), LMKD_* environment variables (LMKD_DryRun=true,
/// LMKD_Kill__TimeoutMs=500) and --Lmkd:Key=value switches.
/// The same path serves the start and a reload; a reload that fails keeps the last good options.
/// </summary>
public static class OptionsLoader
{
    public const string EtcPath = "/etc/lmkd/appsettings.json";
    private const string EnvPrefix = "LMKD_";

    /// <summary>Pick the configuration file: an explicit path, $LMKD_CONFIG, /etc/lmkd, then the one shipped beside the binary.</summary>
    public static string? FindConfigFile(string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath))
            return Path.GetFullPath(explicitPath);
        var fromEnv = Environment.GetEnvironmentVariable("LMKD_CONFIG");
        if (!string.IsNullOrEmpty(fromEnv))
            return Path.GetFullPath(fromEnv);
        if (File.Exists(EtcPath))
            return EtcPath;
        var beside = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        return File.Exists(beside) ? beside : null;
    }

    public static IConfigurationRoot BuildConfiguration(string? configFile, string[] switches)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
            builder.AddJsonFile(configFile, optional: false, reloadOnChange: false);
        builder.AddInMemoryCollection(EnvironmentOverrides());
        builder.AddCommandLine(switches);
        return builder.Build();
    }

    /// <summary>LMKD_Kill__TimeoutMs=500 becomes Lmkd:Kill:TimeoutMs.</summary>
    private static IEnumerable<KeyValuePair<string, string?>> EnvironmentOverrides()
    {
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            var name = (string)e.Key;
            if (IsConfigurationVariable(name))
                yield return new(LmkdOptions.Section + ":" + name[EnvPrefix.Length..].Replace("__", ":"), (string?)e.Value);
        }
    }

    /// <summary>
    /// Configuration variables are spelled like their keys (LMKD_DryRun, LMKD_Kill__TimeoutMs). A name
    /// without a lower-case letter (LMKD_CONFIG, the hook's LMKD_PID, a test harness's LMKD_BINARY) is
    /// never one: otherwise any such variable in the environment would stop the start as an unknown key.
    /// </summary>
    public static bool IsConfigurationVariable(string name) =>
        name.Length > EnvPrefix.Length && name.StartsWith(EnvPrefix, StringComparison.Ordinal)
        && name.AsSpan(EnvPrefix.Length).ContainsAnyInRange('a', 'z');

    /// <summary>Bind and validate. Returns the options, or null with every problem named by its key.</summary>
    public static LmkdOptions? Load(IConfiguration configuration, out List<ConfigError> errors)
    {
        errors = [];
        var options = new LmkdOptions();
        var section = configuration.GetSection(LmkdOptions.Section);
        try
        {
            Bind(section, options);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("ErrorOnUnknownConfiguration", StringComparison.Ordinal))
        {
            foreach (var key in UnknownKeys(section, e.Message))
                errors.Add(new ConfigError(key, "unknown key: not an Lmkd option (check its spelling and section; see the README)"));
            if (errors.Count == 0)
                errors.Add(new ConfigError(LmkdOptions.Section, e.Message));
            return null;
        }
        catch (InvalidOperationException e)
        {
            errors.Add(new ConfigError(ExtractKey(e.Message) ?? LmkdOptions.Section, e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}"));
            return null;
        }

        if (options.Psi.Levels.Count == 0)
            options.Psi.Levels = PsiOptions.DefaultLevels();
        if (options.Headroom.Levels.Count == 0)
            options.Headroom.Levels = HeadroomOptions.DefaultLevels();

        errors = LmkdOptionsValidator.Validate(options);
        return errors.Count == 0 ? options : null;
    }

    /// <summary>
    /// The one binding call, here so that the source generator (AOT-safe) serves every caller,
    /// tests included. Unknown keys are errors: a misspelt protection rule silently ignored could
    /// get the wrong process killed.
    /// </summary>
    internal static void Bind(IConfigurationSection section, LmkdOptions options) =>
        section.Bind(options, b => b.ErrorOnUnknownConfiguration = true);

    /// <summary>
    /// The binder names unknown properties without their section ("...: 'DryRn'"); find the full
    /// keys in the configuration that end in those names so the operator sees "Lmkd:DryRn".
    /// </summary>
    private static IEnumerable<string> UnknownKeys(IConfigurationSection section, string message)
    {
        int colon = message.LastIndexOf(": ", StringComparison.Ordinal);
        var names = message[(colon + 2)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(n => n.Trim('\'', ' ')).ToHashSet(StringComparer.OrdinalIgnoreCase);
        return section.AsEnumerable()
            .Select(kv => kv.Key)
            .Where(k => names.Contains(k[(k.LastIndexOf(':') + 1)..]) || k.Split(':').Any(names.Contains))
            .Select(k => string.Join(':', k.Split(':').TakeWhile(seg => !names.Contains(seg)).Append(k.Split(':').First(names.Contains))))
            .Distinct();
    }

    /// <summary>The binder says "... at 'Lmkd:Kill:TimeoutMs' ..."; pull the key out for the error line.</summary>
    private static string? ExtractKey(string message)
    {
        int start = message.IndexOf("'" + LmkdOptions.Section, StringComparison.Ordinal);
        if (start < 0)
            return null;
        int end = message.IndexOf('\'', start + 1);
        return end > start ? message[(start + 1)..end] : null;
    }
}
