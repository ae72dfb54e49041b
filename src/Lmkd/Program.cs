using Lmkd.Cli;
using Lmkd.Configuration;
using Lmkd.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Serilog;

namespace Lmkd;

public static class Program
{
    /// <summary>EX_CONFIG from sysexits.h: systemd shows it as a configuration error.</summary>
    public const int ExitConfig = 78;
    public const int ExitUsage = 2;

    private const string Usage = """
        usage: lmkd [run] [--config PATH] [--Lmkd:Key=value ...]   run the daemon (the default)
               lmkd check-config [--config PATH] [--Lmkd:Key=value ...]
                                                               validate the configuration and exit
               lmkd status [--json] [--socket PATH]            ask the running daemon what it sees, whom it would kill next, its last kills
               lmkd candidates [--json] [--min-score-adj N]    show the ranked victims, and who is excluded and why
               lmkd kill-test [--mb N] [--timeout-ms N] [--mode M] [--victim-pid PID] [--json]
                                                               kill a throw-away child through the real kill path
               lmkd demo [--limit-mb N] [--seconds N]          watch Lmkd save a memory-limited cgroup (root)
               lmkd hog --mb N [...]                           allocate memory (the workload of tests and the demo)
               lmkd version
        Configuration: --config PATH, else $LMKD_CONFIG, else /etc/lmkd/appsettings.json, else appsettings.json beside the binary;
        LMKD_<Key> environment variables (LMKD_Kill__TimeoutMs=500) and --Lmkd:<Key>=value switches override it.
        """;

    public static int Main(string[] args)
    {
        var verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "run";
        var rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
        try
        {
            return verb switch
            {
                "run" => RunDaemon(rest),
                "check-config" => CheckConfig(rest),
                "status" => StatusCommand.Run(rest, Console.Out, Console.Error),
                "candidates" => CandidatesCommand.Run(rest, Console.Out, Console.Error),
                "kill-test" => KillTestCommand.Run(rest, Console.Out, Console.Error),
                "demo" => DemoCommand.Run(rest, Console.Out, Console.Error),
                "hog" => HogCommand.Run(rest, Console.Out, Console.Error),
                "version" or "--version" => PrintVersion(),
                "help" or "--help" or "-h" => PrintUsage(Console.Out, 0),
                _ => PrintUsage(Console.Error, ExitUsage, $"lmkd: unknown command '{verb}'"),
            };
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"lmkd: invalid configuration: {e.Error.Key}: {e.Error.Message}");
            return ExitConfig;
        }
    }

    private static int PrintUsage(TextWriter w, int code, string? error = null)
    {
        if (error is not null)
            w.WriteLine(error);
        w.WriteLine(Usage);
        return code;
    }

    private static int PrintVersion()
    {
        Console.WriteLine($"lmkd {typeof(Program).Assembly.GetName().Version?.ToString(3)} ({System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription})");
        return 0;
    }

    /// <summary>Split "--config PATH" from the configuration switches; anything else is a usage error.</summary>
    internal static bool TryParseConfigArgs(string[] args, out string? configPath, out string[] switches, TextWriter stderr)
    {
        configPath = null;
        var list = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--config" && i + 1 < args.Length)
                configPath = args[++i];
            else if (args[i].StartsWith("--config=", StringComparison.Ordinal))
                configPath = args[i]["--config=".Length..];
            else if (args[i].StartsWith("--Lmkd:", StringComparison.OrdinalIgnoreCase) && args[i].Contains('='))
                list.Add(args[i]);
            else
            {
                stderr.WriteLine($"lmkd: unexpected argument '{args[i]}' (configuration switches look like --Lmkd:DryRun=true)");
                switches = [];
                return false;
            }
        }
        switches = list.ToArray();
        return true;
    }

    /// <summary>Load and validate, printing every problem by key. Null means: exit with <see cref="ExitConfig"/>.</summary>
    internal static LmkdOptions? LoadOptions(string? configPath, string[] switches, TextWriter stderr) =>
        LoadOptions(configPath, switches, stderr, out _);

    internal static LmkdOptions? LoadOptions(string? configPath, string[] switches, TextWriter stderr, out string? file)
    {
        file = OptionsLoader.FindConfigFile(configPath);
        IConfigurationRoot config;
        try
        {
            config = OptionsLoader.BuildConfiguration(file, switches);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or FormatException)
        {
            stderr.WriteLine($"lmkd: cannot read configuration {file}: {e.Message}");
            return null;
        }
        var options = OptionsLoader.Load(config, out var errors);
        foreach (var e in errors)
            stderr.WriteLine($"lmkd: invalid configuration: {e.Key}: {e.Message}");
        return options;
    }

    private static int CheckConfig(string[] args)
    {
        if (!TryParseConfigArgs(args, out var path, out var switches, Console.Error))
            return ExitUsage;
        var options = LoadOptions(path, switches, Console.Error, out var file);
        if (options is null)
            return ExitConfig;
        Console.WriteLine($"lmkd: configuration {file ?? "(defaults only)"} is valid");
        return 0;
    }

    private static int RunDaemon(string[] args)
    {
        if (!TryParseConfigArgs(args, out var path, out var switches, Console.Error))
            return PrintUsage(Console.Error, ExitUsage);
        var options = LoadOptions(path, switches, Console.Error, out var file);
        if (options is null)
            return ExitConfig;

        using var logger = LogSetup.Create(options.Log);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSerilog(logger, dispose: false);
        // Microsoft.Extensions.Logging filters at Information by default: let Serilog's level switch
        // (Lmkd:Log:Level, changed by a reload) be the only filter, or Debug never shows.
        builder.Services.Configure<Microsoft.Extensions.Logging.LoggerFilterOptions>(o => o.MinLevel = Microsoft.Extensions.Logging.LogLevel.Trace);
        builder.Services.AddSingleton<IHostLifetime, ConsoleLifetime>();
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        builder.Services.AddSingleton(new ConfigSource(file, switches, options));
        builder.Services.AddHostedService<LmkdService>();
        try
        {
            using var host = builder.Build();
            host.Run();
            return Environment.ExitCode;
        }
        catch (ConfigException e)
        {
            logger.Fatal("Invalid configuration: {Key}: {Error}", e.Error.Key, e.Error.Message);
            return ExitConfig;
        }
        catch (Exception e) when (e is Daemon.ScopeException or IOException or UnauthorizedAccessException)
        {
            logger.Fatal("Lmkd cannot start: {Error}", e.Message);
            return 1;
        }
    }
}
