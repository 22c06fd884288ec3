"""A/B: quick upload (and fast download of its project) with blob_part_images None vs others,
alternating on one server. usage: parts_ab.py N PROFILE REPS PART,PART,... OUT"""
import sys, shutil, secrets, statistics, json
from pathlib import Path
from blobflow.bench._data import DataSpec, ensure_data
from blobflow.bench._runner import Job, run_job
from blobflow.bench._raw import RawClient
from blobflow.bench._verify import verify_upload, verify_download
from blobflow.bench._run import PROFILES
from blobflow.server import ServerProcess
n=int(sys.argv[1]); profile=sys.argv[2]; reps=int(sys.argv[3])
parts=[None if p=="none" else int(p) for p in sys.argv[4].split(",")]
out=Path(sys.argv[5]); shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
data = ensure_data(DataSpec(n, 4.0, 0), None)
lat, bw = PROFILES[profile]
times={str(p):{"up":[], "down":[]} for p in parts}
with ServerProcess(data_dir=out/"srv", latency_ms=lat, bandwidth_mbps=bw) as srv:
    k=[0]
    def job(direction, strategy, ten, **kw):
        k[0]+=1
        tok,t,w = ten
        wd=out/f"w{k[0]}"; shutil.rmtree(wd, ignore_errors=True); wd.mkdir()
        return Job(direction=direction, strategy=strategy, client="blobflow", server=srv.address, token=tok,
                   team_id=t, workspace_id=w, data_root=str(data.root),
                   img_dir=str(data.img_dir), ann_dir=str(data.ann_dir), work_dir=str(wd), name=f"j{k[0]}", **kw)
    for rep in range(reps):
        order = parts if rep % 2 == 0 else parts[::-1]
        for p in order:
            tok=secrets.token_urlsafe(16); t,w=srv.add_tenant_sync(tok); ten=(tok,int(t),int(w))
            cfg = None if p is None else {"blob_part_images": p}
            r=run_job(job("upload","quick",ten,config=cfg), sys.executable, timeout=1200, log_path=out/"up.log")
            assert r.ok, r.error
            if rep == 0:
                with RawClient(srv.address, tok) as raw: verify_upload(raw, int(r.project_id), data, 300)
            dest=out/"dl"; shutil.rmtree(dest, ignore_errors=True)
            d=run_job(job("download","fast",ten,project_id=r.project_id,dest=str(dest)), sys.executable, timeout=1200, log_path=out/"dl.log")
            assert d.ok, d.error
            if rep == 0: verify_download(dest, data)
            shutil.rmtree(dest, ignore_errors=True)
            times[str(p)]["up"].append(r.seconds); times[str(p)]["down"].append(d.seconds)
            print(f"rep {rep} part {p}: quick {r.seconds:.2f} s (rss {r.peak_rss_mb:.0f}), fast {d.seconds:.2f} s (rss {d.peak_rss_mb:.0f})", flush=True)
for p, t in times.items():
    print(f"part {p}: quick median {statistics.median(t['up']):.2f} s  fast median {statistics.median(t['down']):.2f} s  (n={len(t['up'])})")
json.dump(times, open(out/"times.json","w"))
