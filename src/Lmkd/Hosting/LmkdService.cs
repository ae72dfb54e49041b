using System.Net;
using System.Runtime.InteropServices;
using Lmkd.Configuration;
using Lmkd.Daemon;
using Lmkd.Hooks;
using Lmkd.Notify;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Lmkd.Hosting;

/// <summary>Where the running daemon's configuration came from, for reloads.</summary>
public sealed record ConfigSource(string? File, string[] Switches, LmkdOptions Initial);

/// <summary>
/// The daemon as a hosted service: self-protection, the metrics endpoint, the monitor thread, READY=1
/// once the monitors are armed, SIGHUP reloads, STOPPING=1 and a bounded stop.
/// </summary>
public sealed class LmkdService(ConfigSource source, IHostApplicationLifetime lifetime, ILogger<LmkdService> log) : IHostedService, IDisposable
{
    private readonly ServiceNotifier _notifier = new();
    private readonly LmkdMetrics _metrics = new();
    private LmkdOptions _options = source.Initial;
    private Scope? _scope;
    private MonitorLoop? _loop;
    private KillPublisher? _publisher;
    private PostKillHook? _hook;
    private NextVictim? _nextVictim;
    private StatusServer? _status;
    private MetricServer? _server;
    private PosixSignalRegistration? _sighup;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Memory is locked first, before the metrics server and the monitor allocate; the report waits for the monitor thread's priority.
        var self = SelfProtection.Apply(_options.SelfProtection, _options.ProcRoot);
        log.LogInformation("Configuration from {ConfigFile}; dry run {DryRun}", source.File ?? "(defaults only)", _options.DryRun);

        try
        {
            if (_options.Metrics.Enabled)
                StartMetrics();
            _scope = Scope.Open(_options);
        }
        catch (Exception e) when (e is ConfigException or ScopeException)
        {
            // A start refused for a named reason: say it once, plainly, and stop (no host stack trace).
            var (code, message) = e is ConfigException c
                ? (Program.ExitConfig, $"invalid configuration: {c.Error.Key}: {c.Error.Message}")
                : (1, e.Message);
            log.LogCritical("Lmkd cannot start: {Error}", message);
            Environment.ExitCode = code;
            _notifier.Status("failed: " + message);
            lifetime.StopApplication();
            return Task.CompletedTask;
        }
        _metrics.WatchHosting(LogSetup.Current, _notifier);
        _loop = new MonitorLoop(_options, _scope, _notifier, _metrics, log);
        _loop.Stopped += OnLoopStopped;
        _publisher = new KillPublisher(_options.Notify, KillPublisher.SystemBusAddress(), _metrics, log);
        _hook = new PostKillHook(_options.Hooks, _metrics, log);
        _loop.KillFinished += OnKillFinished;
        if (!_options.DryRun)
            WarmUpKill(_loop);
        _loop.Start();
        log.LogInformation("Self-protection: oom_score_adj {OomScoreAdj}; memory {MemoryLock}; monitor thread {ThreadPriority}; missing capabilities: {MissingCapabilities}",
            self.OomScoreAdj, self.MemoryLock, _loop.ThreadPriority, self.MissingCapabilities);
        StartStatus();

        _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx =>
        {
            ctx.Cancel = true; // SIGHUP means reload, not hang-up
            Reload();
        });
        _notifier.Ready($"watching {_scope.Description}, PSI {LmkdMetrics.TriggerModeName(_loop.TriggerMode)}, kill mode {KillModes.Name(_loop.ReapMode)}{(_options.DryRun ? ", dry run" : "")}");
        log.LogInformation("Lmkd ready (pid {Pid})", Environment.ProcessId);
        return Task.CompletedTask;
    }

    /// <summary>
    /// The whole kill path once, on a `sleep` of Lmkd's own, before the first real kill needs it (see
    /// <see cref="MonitorLoop.WarmUpKill"/>). Not in dry run, which sends no signal at all. Without a
    /// sleep binary, or when it cannot start, the first real kill pays for it instead: logged, not fatal.
    /// </summary>
    private void WarmUpKill(MonitorLoop loop)
    {
        string? sleep = Array.Find(["/usr/bin/sleep", "/bin/sleep"], File.Exists);
        if (sleep is null)
        {
            log.LogInformation("Warm-up kill skipped: no sleep binary to start and kill");
            return;
        }
        try
        {
            using var child = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(sleep, "30") { UseShellExecute = false })
                ?? throw new InvalidOperationException(sleep + " did not start");
            loop.WarmUpKill(child.Id);
            if (!child.WaitForExit(2000))
                child.Kill();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            log.LogWarning("Warm-up kill skipped: {Error}", e.Message);
        }
    }

    /// <summary>The status socket, if configured; one that cannot be made is logged by the server and Lmkd runs on without it.</summary>
    private void StartStatus()
    {
        if (_options.Status.DaemonSocketPath(Environment.GetEnvironmentVariable("RUNTIME_DIRECTORY")) is not { } path)
            return;
        var facts = DaemonFacts.Now();
        var loop = _loop!;
        var next = _nextVictim = new NextVictim(_options, _scope!);
        _status = new StatusServer(path, () => StatusReport.Build(loop, next, facts), StatusAccess.RootAndSelf(), log);
        if (!_status.Start())
            _status = null;
    }

    private void StartMetrics()
    {
        LmkdOptionsValidator.TryParseListen(_options.Metrics.Listen, out var address, out int port);
        if (!IPAddress.IsLoopback(address!))
            log.LogWarning("Metrics are served on {Listen}, beyond this machine (Lmkd:Metrics:AllowNonLoopback=true)", _options.Metrics.Listen);
        // HttpListener wants a literal host; "localhost" would answer 404 to requests sent to 127.0.0.1.
        string host = address!.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        try
        {
            _server = new MetricServer(host, port, "metrics/", _metrics.Registry);
            _server.Start();
        }
        catch (Exception e) when (e is HttpListenerException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            throw new ConfigException(new ConfigError("Lmkd:Metrics:Listen", $"cannot listen on {_options.Metrics.Listen}: {e.Message}"));
        }
        log.LogInformation("Metrics on http://{Listen}/metrics", _options.Metrics.Listen);
    }

    /// <summary>Re-read the configuration; a bad file is refused by key and the running options stay.</summary>
    public void Reload()
    {
        _notifier.Reloading();
        try
        {
            IConfigurationRoot config;
            try
            {
                config = OptionsLoader.BuildConfiguration(source.File, source.Switches);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException)
            {
                log.LogError("Reload refused: {ConfigFile} cannot be read ({Error}); keeping the running configuration", source.File, e.Message);
                return;
            }
            var next = OptionsLoader.Load(config, out var errors);
            if (next is null)
            {
                foreach (var e in errors)
                    log.LogError("Reload refused: {Key}: {Error}; keeping the running configuration", e.Key, e.Message);
                return;
            }
            if (next.Scope.Cgroup != _options.Scope.Cgroup || next.ProcRoot != _options.ProcRoot || next.CgroupRoot != _options.CgroupRoot)
                log.LogWarning("Reload: Lmkd:Scope, ProcRoot and CgroupRoot changes take effect at the next restart");
            if (next.Status.Socket != _options.Status.Socket)
                log.LogWarning("Reload: a Lmkd:Status:Socket change takes effect at the next restart");
            if (LogSetup.TryParseLevel(next.Log.Level, out var level))
                LogSetup.Level.MinimumLevel = level;
            _options = next;
            _loop?.Reload(next);
            _nextVictim?.Reload(next);
            _publisher?.Update(next.Notify);
            _hook?.Update(next.Hooks);
        }
        finally
        {
            _notifier.Ready("reloaded");
        }
    }

    /// <summary>On the monitor thread, after the kill event is logged: both hand-overs return at once.</summary>
    private void OnKillFinished(FinishedKill kill)
    {
        _publisher?.TryPublish(kill);
        _hook?.TryRun(kill);
    }

    private void OnLoopStopped()
    {
        if (_loop?.FatalError is { } error)
        {
            Environment.ExitCode = 1;
            _notifier.Status("failed: " + error);
            lifetime.StopApplication();
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _notifier.Stopping();
        _sighup?.Dispose();
        _status?.Dispose();
        _loop?.Stop(TimeSpan.FromMilliseconds(500));
        _server?.Stop();
        log.LogInformation("Lmkd stopped");
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _status?.Dispose();
        _loop?.Dispose();
        _publisher?.Dispose();
        _hook?.Dispose();
        _scope?.Dispose();
        _server?.Dispose();
        _notifier.Dispose();
    }
}

public sealed class ConfigException(ConfigError error) : Exception(error.ToString())
{
    public ConfigError Error { get; } = error;
}
