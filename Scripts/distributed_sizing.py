# The sizing table of Docs/DISTRIBUTED.md: per-rank memory, ranks at 24 GiB, bytes per link, bubble for
# OPT-2.7B/6.7B/13B, from `tint params --shape …` counts and the activation rate measured at OPT-125M.
# Usage: python3 Scripts/distributed_sizing.py
GiB=1024**3
# From `tint params --shape …` (default TinT options): prefix storage, module weights, embeddings (token + positions), aux total.
models={
 'OPT-2.7B': dict(D=2560,L=32,Dsim=12800,prefix=532_480_000+786_432_000+2_359_296_000,modules=196_647_620+329_976_270+195_197_312+170_559_680+723_474_432+758_002_368+131_236_352+196_772_352,emb=133_944_320,aux=2_651_596_800),
 'OPT-6.7B': dict(D=4096,L=32,Dsim=20480,prefix=1_363_148_800+2_013_265_920+6_039_797_760,modules=391_310_660+604_636_110+350_062_976+310_642_880+1_497_286_656+1_514_783_424+209_977_856+314_835_456,emb=214_310_912,aux=6_658_473_984),
 'OPT-13B': dict(D=5120,L=40,Dsim=25600,prefix=2_654_208_000+3_932_160_000+11_796_480_000,modules=689_166_468+1_021_461_678+586_294_240+524_700_400+2_693_399_040+2_681_416_560+328_090_240+491_930_240,emb=267_888_640,aux=12_853_473_280),
}
V=50272; T=1024; c=24.3; steps=1
budget=24*GiB*0.9
for name,m in models.items():
    layers=m['aux']-m['emb']; tok=V*m['D']
    for fmt,pb in (('fp32',4),('bf16',2)):
        # Weights of the whole job as `dynamic-eval --distributed` holds them: prefixes (pb bytes), the token+position
        # tables on the first rank and the tied head on the last, one layer's modules per rank. The aux layers'
        # weights are not kept (executors without a read-back base); a job that reads back adds them in fp32 (`base`).
        w=m['prefix']*pb+m['emb']*4+tok*4
        base=layers*4
        mod=m['modules']/m['L']*4
        act=c*m['Dsim']*T*4*m['L']   # stored rows, fp32, all layers simulated
        total=w+act
        n=1
        while (total/n+mod)>budget: n+=1
        link=(2*steps+1)*T*m['D']*4
        print(f"{name} {fmt}: prefixes {m['prefix']*pb/GiB:.1f} GiB, weights {w/GiB:.1f} GiB (+{base/GiB:.1f} GiB read-back base), modules/rank {mod/GiB:.2f} GiB, activations T={T} {act/GiB:.1f} GiB, total {total/GiB:.1f} GiB -> ranks {n} ({(total/n+mod)/GiB:.1f} GiB each); per link per forward {link/2**20:.1f} MiB ({link/(T*m['D']*4):.0f} msgs of {T*m['D']*4/2**20:.1f} MiB); bubble 1-seq {(n-1)/n:.2f}")
