"""A model check of the pingpong gathering GEMM1's barrier protocol (experiments/gather_pingpong.patch).

The producer fills a ring of kStages stages tile after tile; consumer warpgroup g takes the CTA's
tiles g, g + 2, ...; each stage's full barrier completes once per fill and its empty barrier after
the 4 warps of the consuming warpgroup release it; warpgroup g waits for its turn before a tile's
mainloop, and each of its 4 warps arrives on the other's turn barrier after its last stage. Warps
are separate actors interleaved at random (a warp of a warpgroup may lag the others). An mbarrier
wait on parity p passes while the barrier's completed-phase count has the other parity, as in PTX.

Checks, for random interleavings of many (stages, k-blocks per tile, tiles per CTA): every wait on
a full stage finds exactly the k-block it expects, and nothing deadlocks. With the turn barrier
counting one arrival (warp 0 only), as first written, warps that lag by two turns deadlock: this
found it. Run: python3 experiments/pingpong_protocol_model.py
"""
import random
class Bar:
    def __init__(s, count): s.count=count; s.pending=count; s.P=0
    def arrive(s):
        s.pending-=1
        if s.pending==0: s.P+=1; s.pending=s.count
    def ready(s, parity): return (s.P % 2) != parity

def run(kStages, k_blocks, n_tiles, seed):
    rnd=random.Random(seed)
    full=[Bar(1) for _ in range(kStages)]     # producer fill = one arrival
    empty=[Bar(4) for _ in range(kStages)]    # 4 warps of one WG
    turn=[Bar(4), Bar(4)]
    holds=[None]*kStages                       # which k-block counter the stage holds
    errors=[]
    def producer():
        stage=0; phase=0; c=0
        for t in range(n_tiles):
            for kb in range(k_blocks):
                while not empty[stage].ready(phase^1): yield
                holds[stage]=c; full[stage].arrive(); c+=1
                stage+=1
                if stage==kStages: stage=0; phase^=1
                yield
    def consumer(g, warp):
        turns=0
        seq=g
        while seq < n_tiles:
            first=seq*k_blocks; stage=first%kStages; phase=(first//kStages)&1
            p=(turns&1)^(1 if g==0 else 0)
            while not turn[g].ready(p): yield
            turns+=1
            prev=-1
            for kb in range(k_blocks):
                while not full[stage].ready(phase): yield
                if holds[stage]!=first+kb: errors.append((g,warp,seq,kb,holds[stage],first+kb))
                yield
                if prev>=0: empty[prev].arrive()
                prev=stage
                stage+=1
                if stage==kStages: stage=0; phase^=1
            turn[1-g].arrive()
            yield
            if prev>=0: empty[prev].arrive()
            seq+=2
    # each WG: 4 warps as separate actors (warp 0 also signals the turn)
    actors=[producer()]+[consumer(g,w) for g in (0,1) for w in range(4)]
    alive=list(actors); steps=0
    while alive and steps<10**6:
        a=rnd.choice(alive)
        try: next(a)
        except StopIteration: alive.remove(a)
        steps+=1
    return errors, alive, steps

bad=0
for kStages in (3,4,5):
    for k_blocks in (1,2,3,4,5,7,12,32):
        for n_tiles in (1,2,3,5,8):
            for seed in range(20):
                errors, alive, steps = run(kStages,k_blocks,n_tiles,seed)
                if errors or alive:
                    bad+=1
                    if bad<5: print("FAIL", kStages,k_blocks,n_tiles,seed, errors[:3], len(alive), steps)
print("failures:", bad)
bad=0
for seed in range(2000):
    r=random.Random(seed)
    errors, alive, steps = run(r.choice((2,3,4,5)), r.choice((1,2,3,5,9,16)), r.choice((1,2,3,4,7,11)), seed)
    if errors or alive: bad+=1
print("random configs failures:", bad)
